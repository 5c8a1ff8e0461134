// Package erasure consumes contact.erased: campaigns removes what it
// keeps of a member an admin erased (store.Erase). Handling the event
// twice changes nothing, so a redelivery or an operator's replay is safe.
package erasure

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Durable is campaigns' consumer of the ERASURE stream.
const Durable = "campaigns-erasure"

// Handler erases the member an event names.
func Handler(st *store.Store, log *zap.Logger) func(ctx context.Context, m stream.Msg) error {
	return func(ctx context.Context, m stream.Msg) error {
		ev, err := events.Decode[events.ContactErased](m.Data)
		if err != nil {
			return stream.Permanent(err)
		}
		if !events.IsUUID(ev.ContactID) {
			return stream.Permanent(fmt.Errorf("erasure of %q: not a contact id", ev.ContactID))
		}
		if err := st.Erase(ctx, ev); err != nil {
			return stream.Retry(err, time.Second)
		}
		log.Info("member erased", zap.String("contact_id", ev.ContactID), zap.String("event_id", ev.ID))
		return nil
	}
}
