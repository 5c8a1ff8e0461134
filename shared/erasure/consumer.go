package erasure

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Eraser removes what a service keeps of an erased member. Erasing twice
// must change nothing, so a redelivery or an operator's replay is safe.
type Eraser interface {
	Erase(ctx context.Context, ev events.ContactErased) error
}

// Handler is the consumer of contact.erased that campaigns and delivery
// run (each on its own durable consumer of the ERASURE stream): an event
// that does not decode or names no contact is dead-lettered at once; a
// failure to erase (the database is down) is retried, never dropped.
func Handler(e Eraser, log *zap.Logger) stream.Handler {
	return func(ctx context.Context, m stream.Msg) error {
		ev, err := events.Decode[events.ContactErased](m.Data)
		if err != nil {
			return stream.Permanent(err)
		}
		if !events.IsUUID(ev.ContactID) {
			return stream.Permanent(fmt.Errorf("erasure of %q: not a contact id", ev.ContactID))
		}
		if err := e.Erase(ctx, ev); err != nil {
			return stream.Retry(err, time.Second)
		}
		log.Info("member erased", zap.String("contact_id", ev.ContactID), zap.String("event_id", ev.ID))
		return nil
	}
}
