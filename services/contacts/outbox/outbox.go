// Package outbox publishes the consent changes contacts itself makes (an
// organizer's opt-out, opt-outs read from an import) to JetStream for
// delivery. The store writes each event to an outbox table in the same
// transaction as the ledger entry; the relay publishes it with its event
// id as the message id and then deletes it. A crash between the two means
// a second publish, which JetStream's duplicate window and the ledger's
// unique event id both absorb: never a lost opt-out.
package outbox

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Relay moves events from the outbox table to the CONSENT stream.
type Relay struct {
	store *store.Store
	js    jetstream.JetStream
	log   *zap.Logger
	wake  chan struct{}
	poll  time.Duration
}

// New builds a relay that looks for events every poll, and at once when
// Wake is called.
func New(s *store.Store, js jetstream.JetStream, poll time.Duration, log *zap.Logger) *Relay {
	if poll <= 0 {
		poll = 2 * time.Second
	}
	return &Relay{store: s, js: js, log: log, wake: make(chan struct{}, 1), poll: poll}
}

// Wake asks the relay to publish now: called after a transaction that
// queued an event committed.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Loop publishes until ctx ends.
func (r *Relay) Loop(ctx context.Context) {
	for {
		for r.flush(ctx) {
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(r.poll):
		}
	}
}

// flush publishes one page of queued events and reports whether a full
// page went out (so there may be more).
func (r *Relay) flush(ctx context.Context) bool {
	const pageSize = 500
	list, err := r.store.PendingConsentEvents(ctx, pageSize)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("reading consent outbox; will retry", zap.Error(err))
		}
		return false
	}
	done := make([]string, 0, len(list))
	for _, ev := range list {
		pubCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := stream.Publish(pubCtx, r.js, events.SubjectConsentChanged, ev.ID, json.RawMessage(ev.Data))
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("publishing consent event; will retry", zap.String("event_id", ev.ID), zap.Error(err))
			}
			break
		}
		done = append(done, ev.ID)
	}
	if len(done) > 0 {
		if err := r.store.DeletePublished(context.WithoutCancel(ctx), done); err != nil {
			r.log.Warn("clearing consent outbox; events will be published again", zap.Error(err))
			return false
		}
	}
	return len(done) == pageSize
}
