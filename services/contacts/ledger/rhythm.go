package ledger

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// RhythmHandler keeps members' rhythm changes (member.rhythm_changed) so
// the member page and the contacts API can show them. Delivery enforces
// the rhythm; nothing here changes consent.
func RhythmHandler(s *store.Store, log *zap.Logger) stream.Handler {
	return func(ctx context.Context, m stream.Msg) error {
		ev, err := events.Decode[events.RhythmChanged](m.Data)
		if err != nil {
			return stream.Permanent(err)
		}
		if !ev.Channel.Valid() || ev.Address == "" || ev.ID == "" {
			return stream.Permanent(fmt.Errorf("rhythm event %q lacks channel, address or id", ev.ID))
		}
		applied, err := s.ApplyRhythm(ctx, ev)
		if err != nil {
			return stream.Retry(err, time.Second)
		}
		if applied {
			log.Info("rhythm recorded", zap.String("event_id", ev.ID), zap.String("change", ev.Change),
				zap.String("source", ev.Source))
		}
		return nil
	}
}
