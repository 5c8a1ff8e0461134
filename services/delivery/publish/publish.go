// Package publish announces what delivery did: status changes, consent
// changes and members' replies, as events on JetStream. Event ids are
// derived from what happened (message and status, provider message id),
// so announcing the same thing twice stores it once.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
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
	now func() time.Time
	log *zap.Logger
	// patience bounds how long one announcement waits out a broker outage.
	patience time.Duration
}

// New builds a publisher; now stamps each event's occurred-at time.
func New(js jetstream.JetStream, now func() time.Time, log *zap.Logger) *Publisher {
	return &Publisher{js: js, now: now, log: log, patience: 30 * time.Second}
}

// Status announces that m now stands in its current status. The state is
// already committed; the event is retried through a broker outage, and
// only a failure past that is logged (the message log stays the truth).
func (p *Publisher) Status(ctx context.Context, m store.Message) {
	ev := statusEvent(m, p.now())
	p.send(ctx, events.StatusSubject(string(m.Status)), ev.ID, ev, zap.String("message_id", m.ID))
}

// statusEvent describes a message's current status; its id is the message
// and status, so announcing the same status twice stores it once.
func statusEvent(m store.Message, at time.Time) events.StatusChanged {
	ev := events.StatusChanged{
		Meta:         events.NewMeta(events.TypeStatusChanged, events.VersionStatusChanged, m.CorrelationID, at),
		StatusChange: statusChange(m),
	}
	ev.ID = m.ID + "." + string(m.Status)
	return ev
}

func statusChange(m store.Message) events.StatusChange {
	return events.StatusChange{
		MessageID: m.ID, IdempotencyKey: m.IdempotencyKey, CampaignID: m.CampaignID, ContactID: m.ContactID,
		Channel: events.Channel(m.Channel), Status: string(m.Status), ProviderID: m.ProviderID,
		ErrorCode: m.ErrorCode, Reason: m.Reason,
	}
}

// maxChanges bounds one StatusesChanged event: a change takes about 300
// bytes, so an event stays far below the broker's 1 MB message limit.
const maxChanges = 500

// statusesEvent describes many messages' current statuses. Its id is
// derived from the messages and their statuses, so announcing the same
// changes twice stores them once; the correlation id is kept when they
// share one (an email batch of one campaign).
func statusesEvent(ms []store.Message, at time.Time) events.StatusesChanged {
	h := sha256.New()
	corr := ms[0].CorrelationID
	changes := make([]events.StatusChange, len(ms))
	for i, m := range ms {
		changes[i] = statusChange(m)
		h.Write([]byte(m.ID + "." + string(m.Status) + "\n"))
		if m.CorrelationID != corr {
			corr = ""
		}
	}
	ev := events.StatusesChanged{
		Meta:    events.NewMeta(events.TypeStatusesChanged, events.VersionStatuses, corr, at),
		Changes: changes,
	}
	ev.ID = "statuses." + hex.EncodeToString(h.Sum(nil)[:16])
	return ev
}

// Statuses announces many status changes at once (a settled email batch,
// a worker's settled sends) as StatusesChanged events of up to maxChanges
// each, publishing asynchronously and then waiting for every
// acknowledgement: a thousand changes cost two broker messages and one
// round trip. What the broker does not take is retried patiently.
func (p *Publisher) Statuses(ctx context.Context, ms []store.Message) {
	if len(ms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.patience)
	defer cancel()
	type pending struct {
		f  jetstream.PubAckFuture
		ev events.StatusesChanged
	}
	var futures []pending
	var failed []events.StatusesChanged
	for chunk := range slices.Chunk(ms, maxChanges) {
		ev := statusesEvent(chunk, p.now())
		data, err := events.Encode(ev)
		if err != nil {
			p.log.Error("encoding status events", zap.String("first_message_id", chunk[0].ID), zap.Error(err))
			continue
		}
		f, err := p.js.PublishAsync(events.SubjectStatuses, data, jetstream.WithMsgID(ev.ID))
		if err != nil {
			failed = append(failed, ev)
			continue
		}
		futures = append(futures, pending{f: f, ev: ev})
	}
	for _, p := range futures {
		select {
		case <-p.f.Ok():
		case <-p.f.Err():
			failed = append(failed, p.ev)
		case <-ctx.Done():
			failed = append(failed, p.ev)
		}
	}
	for _, ev := range failed {
		p.send(ctx, events.SubjectStatuses, ev.ID, ev, zap.String("first_message_id", ev.Changes[0].MessageID))
	}
}

func (p *Publisher) send(ctx context.Context, subject, id string, v any, field zap.Field) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.patience)
	defer cancel()
	if err := stream.PublishEventually(ctx, p.js, subject, id, v); err != nil {
		p.log.Error("event not published", zap.String("subject", subject), field, zap.Error(err))
	}
}
