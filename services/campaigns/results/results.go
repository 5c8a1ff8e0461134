// Package results keeps each campaign's numbers live from delivery's
// events: message statuses and members' replies. Counts are derived from
// per-message rows, so a redelivered event can never count twice.
package results

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// rank orders delivery's statuses the way delivery does, so a late report
// cannot move a message back in the results either.
var rank = map[string]int{
	events.StatusQueued: 0, events.StatusSending: 1, events.StatusUnknown: 2, events.StatusAccepted: 3,
	events.StatusSent: 4, events.StatusDelivered: 9, events.StatusUndelivered: 9, events.StatusFailed: 9,
	events.StatusSuppressed: 9, events.StatusExpired: 9, events.StatusCancelled: 9,
}

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Handler consumes the MESSAGES stream.
func Handler(st *store.Store) stream.Handler {
	return func(ctx context.Context, m stream.Msg) error {
		switch {
		case strings.HasPrefix(m.Subject, events.SubjectStatusPrefix):
			var ev events.StatusChanged
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				return stream.Permanent(fmt.Errorf("decoding status event: %w", err))
			}
			r, ok := rank[ev.Status]
			if !ok || !uuidRe.MatchString(ev.CampaignID) {
				return nil // not one of ours, or a status we do not count
			}
			if err := st.RecordStatus(ctx, ev, r); err != nil {
				return stream.Retry(err, time.Second)
			}
		case m.Subject == events.SubjectInbound:
			var ev events.InboundReceived
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				return stream.Permanent(fmt.Errorf("decoding inbound event: %w", err))
			}
			if !uuidRe.MatchString(ev.CampaignID) {
				return nil // a reply to no campaign of ours
			}
			if err := st.RecordReply(ctx, ev); err != nil {
				return stream.Retry(err, time.Second)
			}
		}
		return nil
	}
}
