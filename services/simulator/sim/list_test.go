package sim

import (
	"errors"
	"testing"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// The message list, read with twilio-go's ListMessage, holds only the
// number asked for, newest first, and refuses a page size Twilio refuses.
func TestListMessages(t *testing.T) {
	h := newHarness(t, Config{})
	send := func(to, body string) string {
		m, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo(to).SetFrom("+15550001111").SetBody(body))
		if err != nil {
			t.Fatalf("CreateMessage: %v", err)
		}
		return *m.Sid
	}
	first := send("+15552013344", "one")
	send("+15552019999", "other member")
	second := send("+15552013344", "two")

	got, err := h.api.ListMessage((&openapi.ListMessageParams{}).SetTo("+15552013344").SetPageSize(50).SetLimit(50))
	if err != nil {
		t.Fatalf("ListMessage: %v", err)
	}
	if len(got) != 2 || deref(got[0].Sid) != second || deref(got[1].Sid) != first {
		t.Fatalf("list = %d messages, want [%s %s] newest first", len(got), second, first)
	}
	if deref(got[0].Body) != "two" || got[0].DateCreated == nil {
		t.Errorf("newest = %q created %v", deref(got[0].Body), got[0].DateCreated)
	}

	_, err = h.api.ListMessage((&openapi.ListMessageParams{}).SetPageSize(5000))
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Status != 400 {
		t.Errorf("PageSize 5000: err = %v, want a 400", err)
	}
}
