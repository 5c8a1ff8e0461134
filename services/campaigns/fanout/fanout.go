// Package fanout turns a launched campaign into one send request per
// member. It is idempotent and resumable: each request's id is its
// idempotency key (campaign, step, contact, channel), the progress cursor
// moves only after JetStream acknowledged a whole page, and the work is
// leased so that a crashed replica's campaign is picked up by another.
package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/services/campaigns/template"
	"github.com/musterhq/muster/shared/events"
)

// Config tunes the fan-out.
type Config struct {
	// PageSize is how many members are rendered and published per page.
	PageSize int
	// Lease is how long a replica holds a campaign between pages; one
	// that stalls longer loses it to another replica.
	Lease time.Duration
	// Poll is how often idle replicas look for work nobody holds.
	Poll time.Duration
}

// Fanout runs fan-outs.
type Fanout struct {
	cfg   Config
	store *store.Store
	nc    *nats.Conn
	js    jetstream.JetStream
	owner string
	log   *zap.Logger
	wake  chan struct{}
}

// New builds a fan-out runner; owner names this replica in leases.
func New(cfg Config, st *store.Store, nc *nats.Conn, js jetstream.JetStream, owner string, log *zap.Logger) *Fanout {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	return &Fanout{cfg: cfg, store: st, nc: nc, js: js, owner: owner, log: log, wake: make(chan struct{}, 1)}
}

// Wake asks the runner to look for work now (a campaign was launched).
func (f *Fanout) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run claims and fans out campaigns until ctx ends.
func (f *Fanout) Run(ctx context.Context) {
	for {
		lease, err := f.store.ClaimFanout(ctx, f.owner, f.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("claiming fan-out failed", zap.Error(err))
		}
		if lease != nil {
			if err := f.process(ctx, lease); err != nil && ctx.Err() == nil {
				// The lease runs out and this or another replica resumes
				// from the cursor.
				f.log.Warn("fan-out paused", zap.String("campaign_id", lease.Campaign.ID), zap.Error(err))
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-time.After(f.cfg.Poll):
		}
	}
}

func (f *Fanout) process(ctx context.Context, l *store.Lease) error {
	c := l.Campaign
	tpl, err := template.Parse("body", c.Body)
	if err != nil {
		return fmt.Errorf("campaign %s template: %w", c.ID, err)
	}
	log := f.log.With(zap.String("campaign_id", c.ID))
	log.Info("fan-out started", zap.String("cursor", l.Cursor))
	for {
		page, err := f.page(ctx, events.AudiencePageRequest{Tag: c.Audience.Tag, Channel: c.Channel, After: l.Cursor, Limit: f.cfg.PageSize})
		if err != nil {
			return err
		}
		if err := f.publish(ctx, c.ID, c.Channel, tpl, page.Members); err != nil {
			return err
		}
		next := l.Cursor
		if n := len(page.Members); n > 0 {
			next = page.Members[n-1].ContactID
		}
		if err := f.store.Advance(ctx, l, next, len(page.Members), f.cfg.Lease); err != nil {
			return err
		}
		if page.Next == "" {
			if err := f.store.Complete(ctx, l); err != nil {
				return err
			}
			log.Info("fan-out complete")
			return nil
		}
	}
}

func (f *Fanout) page(ctx context.Context, req events.AudiencePageRequest) (events.AudiencePage, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return events.AudiencePage{}, fmt.Errorf("encoding audience request: %w", err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := f.nc.RequestWithContext(reqCtx, events.SubjectAudiencePage, data)
	if err != nil {
		return events.AudiencePage{}, fmt.Errorf("asking contacts for an audience page: %w", err)
	}
	var page events.AudiencePage
	if err := json.Unmarshal(msg.Data, &page); err != nil {
		return events.AudiencePage{}, fmt.Errorf("decoding audience page: %w", err)
	}
	if page.Error != "" {
		return events.AudiencePage{}, fmt.Errorf("contacts: %s", page.Error)
	}
	return page, nil
}

// publish sends one request per member and waits until JetStream
// acknowledged every one; only then may the cursor move.
func (f *Fanout) publish(ctx context.Context, campaignID string, ch events.Channel, tpl *template.Template, members []events.Member) error {
	futures := make([]jetstream.PubAckFuture, 0, len(members))
	now := time.Now().UTC()
	for _, m := range members {
		key := events.IdempotencyKey(campaignID, 0, m.ContactID, ch)
		to := m.Phone
		if ch == events.ChannelEmail {
			to = m.Email
		}
		req := events.SendRequested{
			Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: events.VersionSendRequested, OccurredAt: now, CorrelationID: campaignID},
			IdempotencyKey: key, CampaignID: campaignID, ContactID: m.ContactID, Channel: ch,
			To: to, Body: tpl.Render(m), TimeZone: m.TimeZone,
		}
		data, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("encoding send request: %w", err)
		}
		fut, err := f.js.PublishMsgAsync(&nats.Msg{Subject: events.SendSubject(ch), Data: data}, jetstream.WithMsgID(key))
		if err != nil {
			return fmt.Errorf("publishing send request: %w", err)
		}
		futures = append(futures, fut)
	}
	var errs []error
	deadline := time.After(30 * time.Second) // an ack lost in a broker restart
	for _, fut := range futures {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			errs = append(errs, err)
		case <-deadline:
			return fmt.Errorf("send requests not acknowledged within 30s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d send requests not acknowledged: %w", len(errs), len(futures), errors.Join(errs[0]))
	}
	return nil
}
