package receive

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// emailOutcome is what one SendGrid event means for Muster.
type emailOutcome struct {
	status   status.Status // "" when the message's status does not change
	suppress string        // the consent change when the address must be suppressed
}

// droppedSuppresses lists the dropped reasons that mean the address must
// not be mailed again (SendGrid's own suppression lists).
var droppedSuppresses = []string{"bounced address", "spam reporting address", "invalid", "unsubscribed address"}

// classifyEmail maps a SendGrid event to a status and a suppression.
func classifyEmail(e sendgrid.Event) emailOutcome {
	switch e.Event {
	case "processed":
		return emailOutcome{status: status.Accepted}
	case "delivered":
		return emailOutcome{status: status.Delivered}
	case "bounce":
		if e.Type == "blocked" {
			// A block is the receiving server's passing refusal, not a dead address.
			return emailOutcome{status: status.Undelivered}
		}
		return emailOutcome{status: status.Undelivered, suppress: events.ConsentBounced}
	case "dropped":
		reason := strings.ToLower(e.Reason)
		for _, r := range droppedSuppresses {
			if strings.Contains(reason, r) {
				return emailOutcome{status: status.Failed, suppress: events.ConsentBounced}
			}
		}
		return emailOutcome{status: status.Failed}
	case "spamreport":
		return emailOutcome{suppress: events.ConsentComplained}
	case "unsubscribe", "group_unsubscribe":
		return emailOutcome{suppress: events.ConsentOptedOut}
	default: // deferred, open, click, group_resubscribe: nothing to do
		return emailOutcome{}
	}
}

// EmailEvents acts on verified SendGrid events, each once however often
// SendGrid repeats it. A spam report suppresses at once.
func (r *Receiver) EmailEvents(ctx context.Context, evs []sendgrid.Event) error {
	for _, e := range evs {
		if e.ID == "" || e.Event == "" {
			return apperr.Invalid("sg_event_id", "event without sg_event_id or event")
		}
		msgID := e.MessageID
		if msgID != "" && !events.IsID(msgID) {
			msgID = "" // not one of ours; still honour a suppression
		}
		first, err := r.store.FirstEmailEvent(ctx, e.ID, msgID, e.Event)
		if err != nil {
			return err
		}
		if !first {
			continue
		}
		out := classifyEmail(e)
		if out.suppress != "" && e.Email != "" {
			if err := r.suppressEmail(ctx, strings.ToLower(e.Email), out.suppress, "sendgrid "+e.Event+" "+e.Reason, "sg."+e.ID); err != nil {
				return err
			}
		}
		if out.status == "" || msgID == "" {
			continue
		}
		msg, moved, err := r.store.Apply(ctx, msgID, store.Update{Status: out.status, ErrorCode: e.Status, Reason: e.Reason, ProviderStatus: e.Event})
		if apperr.KindOf(err) == apperr.KindNotFound {
			r.log.Warn("email event for an unknown message", zap.String("message_id", msgID), zap.String("event", e.Event))
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
			Meta:    events.KeyedMeta(eventID, events.TypeConsentChanged, "", at),
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
			Meta:    events.KeyedMeta("unsub."+sub.MessageID+"."+addr, events.TypeConsentChanged, sub.MessageID, at),
			Channel: events.ChannelEmail, Address: addr, Change: events.ConsentOptedOut,
			Source: events.SourceInboundEmail, Evidence: how, At: at.UTC(),
		},
	})
	return err
}
