// Package publish announces what delivery did: status changes, consent
// changes and members' replies, as events on JetStream. Event ids are
// derived from what happened (message and status, provider message id),
// so announcing the same thing twice stores it once.
package publish

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Publisher publishes delivery's events.
type Publisher struct {
	js  jetstream.JetStream
	log *zap.Logger
	// patience bounds how long one announcement waits out a broker outage.
	patience time.Duration
}

// New builds a publisher.
func New(js jetstream.JetStream, log *zap.Logger) *Publisher {
	return &Publisher{js: js, log: log, patience: 30 * time.Second}
}

// Status announces that m now stands in its current status. The state is
// already committed; the event is retried through a broker outage, and
// only a failure past that is logged (the message log stays the truth).
func (p *Publisher) Status(ctx context.Context, m store.Message) {
	ev := statusEvent(m)
	p.send(ctx, events.StatusSubject(string(m.Status)), ev.ID, ev, zap.String("message_id", m.ID))
}

// statusEvent describes a message's current status; its id is the message
// and status, so announcing the same status twice stores it once.
func statusEvent(m store.Message) events.StatusChanged {
	ev := events.StatusChanged{
		Meta:      events.NewMeta(events.TypeStatusChanged, events.VersionStatusChanged, m.CorrelationID, time.Now()),
		MessageID: m.ID, IdempotencyKey: m.IdempotencyKey, CampaignID: m.CampaignID, ContactID: m.ContactID,
		Channel: events.Channel(m.Channel), Status: string(m.Status), ProviderID: m.ProviderID,
		ErrorCode: m.ErrorCode, Reason: m.Reason,
	}
	ev.ID = m.ID + "." + string(m.Status)
	return ev
}

// Statuses announces many status changes at once (a settled email
// batch), publishing asynchronously and then waiting for every
// acknowledgement, so a batch costs one round trip rather than one each.
func (p *Publisher) Statuses(ctx context.Context, ms []store.Message) {
	if len(ms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.patience)
	defer cancel()
	type pending struct {
		f jetstream.PubAckFuture
		m store.Message
	}
	futures := make([]pending, 0, len(ms))
	var failed []store.Message
	for _, m := range ms {
		ev := statusEvent(m)
		data, err := json.Marshal(ev)
		if err != nil {
			p.log.Error("encoding status event", zap.String("message_id", m.ID), zap.Error(err))
			continue
		}
		f, err := p.js.PublishAsync(events.StatusSubject(string(m.Status)), data, jetstream.WithMsgID(ev.ID))
		if err != nil {
			failed = append(failed, m)
			continue
		}
		futures = append(futures, pending{f: f, m: m})
	}
	for _, p := range futures {
		select {
		case <-p.f.Ok():
		case <-p.f.Err():
			failed = append(failed, p.m)
		case <-ctx.Done():
			failed = append(failed, p.m)
		}
	}
	// Whatever the broker did not take goes the slow, patient way.
	for _, m := range failed {
		p.Status(ctx, m)
	}
}

func (p *Publisher) send(ctx context.Context, subject, id string, v any, field zap.Field) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.patience)
	defer cancel()
	if err := stream.PublishEventually(ctx, p.js, subject, id, v); err != nil {
		p.log.Error("event not published", zap.String("subject", subject), field, zap.Error(err))
	}
}
