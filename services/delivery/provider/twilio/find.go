package twilio

import (
	"context"
	"fmt"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/status"
)

// Find asks Twilio whether it holds a text to `to` with exactly body,
// created at or after since, among the newest 50 messages to that number.
// The reconciler uses it to settle a send that had no clear answer: found,
// the text went; not found long after the call ended, it never reached
// Twilio and may be sent again.
func (c *Client) Find(_ context.Context, to, body string, since time.Time) (provider.Found, bool, error) {
	p := &openapi.ListMessageParams{}
	p.SetTo(to).SetPageSize(50).SetLimit(50)
	msgs, err := c.api.ListMessage(p)
	if err != nil {
		return provider.Found{}, false, fmt.Errorf("listing twilio messages to %s: %w", to, err)
	}
	for _, m := range msgs {
		if m.Body == nil || *m.Body != body || m.Sid == nil {
			continue
		}
		if m.DateCreated != nil {
			created, err := time.Parse(time.RFC1123Z, *m.DateCreated)
			if err == nil && created.Before(since.Truncate(time.Second)) {
				continue
			}
		}
		f := provider.Found{ProviderID: *m.Sid, Status: status.Accepted}
		if m.Status != nil {
			f.ProviderStatus = *m.Status
			if st, ok := Status(*m.Status); ok {
				f.Status = st
			}
		}
		if m.ErrorCode != nil && *m.ErrorCode != 0 {
			f.ErrorCode = fmt.Sprint(*m.ErrorCode)
		}
		return f, true, nil
	}
	return provider.Found{}, false, nil
}
