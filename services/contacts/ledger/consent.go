// Package ledger keeps what the other services report about members over
// JetStream: consent changes into the consent ledger (recorded once per
// event however often it is redelivered) and members' own rhythm
// (NIGHTS, PAUSE, the preferences page) for the member page.
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

// ConsentHandler applies consent events; each is recorded once in the
// ledger however often it is redelivered, including the events contacts
// published itself (already in the ledger under the same event id when
// they come back).
func ConsentHandler(s *store.Store, log *zap.Logger) stream.Handler {
	return func(ctx context.Context, m stream.Msg) error {
		ev, err := events.Decode[events.ConsentChanged](m.Data)
		if err != nil {
			return stream.Permanent(err)
		}
		if !ev.Channel.Valid() || ev.Address == "" || ev.ID == "" {
			return stream.Permanent(fmt.Errorf("consent event %q lacks channel, address or id", ev.ID))
		}
		if ev.Source == events.SourceJoinKeyword && ev.Channel == events.ChannelSMS {
			// A member who texted the join keyword: add them if the union
			// does not know the number yet.
			created, err := s.Joined(ctx, ev.Address, ev.At)
			if err != nil {
				return stream.Retry(err, time.Second)
			}
			if created {
				log.Info("member joined by text", zap.String("event_id", ev.ID))
			}
		}
		applied, err := s.ApplyConsent(ctx, ev)
		if err != nil {
			return stream.Retry(err, time.Second)
		}
		if applied {
			log.Info("consent applied", zap.String("event_id", ev.ID), zap.String("channel", string(ev.Channel)),
				zap.String("change", ev.Change), zap.String("source", ev.Source))
		}
		return nil
	}
}
