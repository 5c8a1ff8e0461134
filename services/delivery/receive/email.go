package receive

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// EmailEvents acts on verified SendGrid events, each once however often
// SendGrid repeats it. A spam report suppresses at once.
func (r *Receiver) EmailEvents(ctx context.Context, evs []provider.EmailEvent) error {
	for _, e := range evs {
		first, err := r.store.FirstEmailEvent(ctx, e.ID, e.MessageID, e.Name)
		if err != nil {
			return err
		}
		if !first {
			continue
		}
		if e.Suppress != "" && e.Email != "" {
			if err := r.suppressEmail(ctx, strings.ToLower(e.Email), e.Suppress, e.Evidence, "sg."+e.ID); err != nil {
				return err
			}
		}
		if e.Status == "" || e.MessageID == "" {
			continue
		}
		msg, moved, err := r.store.Apply(ctx, e.MessageID, store.Update{Status: e.Status, ErrorCode: e.ErrorCode, Reason: e.Reason, ProviderStatus: e.Name})
		if apperr.KindOf(err) == apperr.KindNotFound {
			r.log.Warn("email event for an unknown message", zap.String("message_id", e.MessageID), zap.String("event", e.Name))
			continue
		}
		if err != nil {
			return err
		}
		if moved {
			r.pub.Status(ctx, msg)
		}
	}
	return nil
}

func (r *Receiver) suppressEmail(ctx context.Context, addr, change, evidence, eventID string) error {
	at := r.now()
	added, err := r.store.Suppress(ctx, store.Suppression{
		Channel: string(events.ChannelEmail), Address: addr, Reason: change, Source: events.SourceProvider, Evidence: evidence, At: at,
		Announce: &events.ConsentChanged{
			Meta:    events.Meta{ID: eventID, Type: events.TypeConsentChanged, Version: events.VersionConsent, OccurredAt: at.UTC()},
			Channel: events.ChannelEmail, Address: addr, Change: change, Source: events.SourceProvider, Evidence: evidence, At: at.UTC(),
		},
	})
	if err == nil && added {
		r.log.Info("email address suppressed", logging.Email("email", addr), zap.String("change", change))
	}
	return err
}

// Unsubscribe records a member's own unsubscribe from an email link: the
// address is suppressed before the page answers.
func (r *Receiver) Unsubscribe(ctx context.Context, sub unsubscribe.Subject, how string) error {
	addr := strings.ToLower(sub.Address)
	at := r.now()
	_, err := r.store.Suppress(ctx, store.Suppression{
		Channel: string(events.ChannelEmail), Address: addr, Reason: "member unsubscribed",
		Source: events.SourceInboundEmail, Evidence: fmt.Sprintf("%s from message %s", how, sub.MessageID), At: at,
		Announce: &events.ConsentChanged{
			Meta:    events.Meta{ID: "unsub." + sub.MessageID + "." + addr, Type: events.TypeConsentChanged, Version: events.VersionConsent, OccurredAt: at.UTC()},
			Channel: events.ChannelEmail, Address: addr, Change: events.ConsentOptedOut,
			Source: events.SourceInboundEmail, Evidence: how, At: at.UTC(),
		},
	})
	return err
}
