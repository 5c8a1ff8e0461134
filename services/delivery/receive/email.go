package receive

import (
	"context"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// EmailEvents acts on verified email events, each once however often
// the provider repeats it; concurrent posts are written together. A spam
// report suppresses at once. It returns once the batch holding these
// events committed; an error means none of it may have been recorded, and
// the provider must post again (acting twice is harmless: statuses only
// move forward and suppressions are idempotent).
func (r *Receiver) EmailEvents(ctx context.Context, evs []provider.EmailEvent) error {
	if len(evs) == 0 {
		return nil
	}
	if _, err := r.emailEvents.Do(ctx, evs); err != nil {
		return fmt.Errorf("applying email events: %w", err)
	}
	return nil
}

// emailBatch acts on the events of many posts: which were seen before is
// read in one statement, statuses are applied in one, and the events are
// recorded as seen in one, last, so an event is never marked seen before
// it was acted on.
func (r *Receiver) emailBatch(ctx context.Context, posts [][]provider.EmailEvent) ([]struct{}, error) {
	var fresh []provider.EmailEvent
	ids := make([]string, 0, len(posts))
	inBatch := make(map[string]bool)
	for _, p := range posts {
		for _, e := range p {
			if !inBatch[e.ID] {
				inBatch[e.ID] = true
				ids = append(ids, e.ID)
				fresh = append(fresh, e)
			}
		}
	}
	seen, err := r.store.SeenEmailEvents(ctx, ids)
	if err != nil {
		return nil, err
	}
	var outs []store.Outcome
	var recs []store.EmailEventRecord
	for _, e := range fresh {
		if seen[e.ID] {
			continue
		}
		recs = append(recs, store.EmailEventRecord{ID: e.ID, MessageID: e.MessageID, Event: e.Name})
		if e.Suppress != "" && e.Email != "" {
			if err := r.suppressEmail(ctx, strings.ToLower(e.Email), e.Suppress, e.Evidence, "sg."+e.ID); err != nil {
				return nil, err
			}
		}
		if e.Status != "" && e.MessageID != "" {
			outs = append(outs, store.Outcome{ID: e.MessageID, Update: store.Update{Status: e.Status, ErrorCode: e.ErrorCode, Reason: e.Reason, ProviderStatus: e.Name}})
		}
	}
	if len(outs) > 0 {
		applied, err := r.store.ApplyReports(ctx, outs)
		if err != nil {
			return nil, err
		}
		for i, a := range applied {
			if a.Message.ID == "" {
				r.log.Warn("email event for an unknown message", zap.String("message_id", outs[i].ID), zap.String("event", outs[i].ProviderStatus))
			}
		}
		r.announce(ctx, applied)
	}
	if len(recs) > 0 {
		if err := r.store.RecordEmailEvents(ctx, recs); err != nil {
			return nil, err
		}
	}
	return make([]struct{}, len(posts)), nil
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
