package receive

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/stream"
)

// ConsentHandler applies opt-outs made outside delivery (an organizer in
// contacts, an import that carried one) to the suppression list. Only
// opt-outs are taken: lifting one is the member's own act (START), which
// delivery handles itself, so no event from elsewhere can re-subscribe an
// address. clock stamps the suppression (nil is time.Now).
func ConsentHandler(st *store.Store, clock func() time.Time, log *zap.Logger) stream.Handler {
	if clock == nil {
		clock = time.Now
	}
	return func(ctx context.Context, m stream.Msg) error {
		ev, err := events.Decode[events.ConsentChanged](m.Data)
		if err != nil {
			return stream.Permanent(err)
		}
		if ev.Source == events.SourceInboundSMS || ev.Source == events.SourceProvider || ev.Source == events.SourceInboundEmail ||
			ev.Source == events.SourceInboundEmailReply {
			return nil // delivery's own, already on the list
		}
		if !consent.Suppresses(ev.Change) {
			return nil
		}
		if !ev.Channel.Valid() || ev.Address == "" {
			return stream.Permanent(fmt.Errorf("consent event %q lacks channel or address", ev.ID))
		}
		added, err := st.Suppress(ctx, store.Suppression{
			Channel: string(ev.Channel), Address: ev.Address, Reason: ev.Change + " by " + ev.Source,
			Source: ev.Source, Evidence: ev.Evidence, At: clock(),
		})
		if err != nil {
			return stream.Retry(err, time.Second)
		}
		if added {
			log.Info("address suppressed", logging.Address("address", ev.Address), zap.String("source", ev.Source), zap.String("event_id", ev.ID))
		}
		return nil
	}
}
