// Package fanout turns a campaign step into one send request per member
// and channel, a hundred requests to a JetStream message. It is
// idempotent and resumable: each request's id is its idempotency key
// (campaign, step, contact, channel), the progress cursor moves only
// after JetStream acknowledged a whole page, and the work is leased so
// that a crashed replica's fan-out is picked up by another.
//
// It is also fast: the next page is fetched while the current one is
// published, requests are published asynchronously within a bounded
// window of unacknowledged messages, and rendering appends into reused
// buffers.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/contacts"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/tracing"
)

// Config tunes the fan-out.
type Config struct {
	// PageSize is how many members are rendered and published per page.
	PageSize int
	// Lease is how long a replica holds a fan-out between pages; one
	// that stalls longer loses it to another replica.
	Lease time.Duration
	// Poll is how often idle replicas look for work nobody holds.
	Poll time.Duration
	// Window bounds the messages of send requests (up to
	// stream.MaxBatchParts each) published and not yet acknowledged, so
	// a slow broker slows the fan-out instead of filling memory.
	Window int
}

// Fanout runs fan-outs.
type Fanout struct {
	cfg      Config
	store    *store.Store
	contacts *contacts.Client
	js       jetstream.JetStream
	owner    string
	settings message.Settings
	clock    func() time.Time
	log      *zap.Logger
	wake     chan struct{}

	// tracer is nil when tracing is off. launches hands the trace of a
	// launch request to the fan-out it started, when this replica claims
	// it (another replica's fan-out starts a trace of its own).
	tracer   trace.Tracer
	mu       sync.Mutex
	launches map[string]trace.SpanContext

	// members and completed count progress for the operators' dashboard;
	// nil counts nothing.
	members, completed *prometheus.CounterVec
}

// Counted exports the fan-out's progress on reg: members published
// (campaigns_fanout_members_total{channel}) and fan-outs completed
// (campaigns_fanouts_completed_total{channel}).
func (f *Fanout) Counted(reg prometheus.Registerer) (*Fanout, error) {
	f.members = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaigns_fanout_members_total",
		Help: "Members whose send requests a fan-out published, by channel.",
	}, []string{"channel"})
	f.completed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "campaigns_fanouts_completed_total",
		Help: "Campaign steps whose fan-out reached the end of the audience, by channel.",
	}, []string{"channel"})
	for _, c := range []prometheus.Collector{f.members, f.completed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering fan-out metrics: %w", err)
		}
	}
	return f, nil
}

// maxLaunches bounds the launches remembered for their fan-out.
const maxLaunches = 1024

// Traced makes spans of each fan-out and of each send request published,
// with tp; a nil tp traces nothing.
func (f *Fanout) Traced(tp trace.TracerProvider) *Fanout {
	if tp != nil {
		f.tracer = tp.Tracer("github.com/musterhq/muster/services/campaigns/fanout")
		f.launches = map[string]trace.SpanContext{}
	}
	return f
}

// Launched remembers the trace of the request that launched campaignID,
// so its first fan-out continues it.
func (f *Fanout) Launched(ctx context.Context, campaignID string) {
	sc := trace.SpanContextFromContext(ctx)
	if f.tracer == nil || !sc.IsValid() {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.launches) < maxLaunches {
		f.launches[campaignID] = sc
	}
}

// startSpan starts the span of one leased fan-out: a child of its launch
// when this replica saw the launch, else the root of a trace.
func (f *Fanout) startSpan(ctx context.Context, l *store.Lease) (context.Context, trace.Span) {
	if f.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	f.mu.Lock()
	parent, ok := f.launches[l.CampaignID]
	if ok && l.Step == 0 {
		delete(f.launches, l.CampaignID)
		ctx = trace.ContextWithSpanContext(ctx, parent)
	}
	f.mu.Unlock()
	return f.tracer.Start(ctx, "fanout", trace.WithAttributes(attribute.String("muster.campaign_id", l.CampaignID),
		attribute.Int("muster.step", l.Step), attribute.String("muster.channel", string(l.Channel))))
}

// New builds a fan-out runner; owner names this replica in leases. It
// opens its own JetStream context on nc for the publish window.
func New(cfg Config, st *store.Store, cc *contacts.Client, nc *nats.Conn, owner string, settings message.Settings, clock func() time.Time, log *zap.Logger) (*Fanout, error) {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 4 * cfg.PageSize
	}
	if clock == nil {
		clock = time.Now
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(cfg.Window))
	if err != nil {
		return nil, fmt.Errorf("opening jetstream for the fan-out: %w", err)
	}
	return &Fanout{cfg: cfg, store: st, contacts: cc, js: js, owner: owner, settings: settings, clock: clock, log: log,
		wake: make(chan struct{}, 1)}, nil
}

// Wake asks the runner to look for work now (a campaign was launched, a
// step came due).
func (f *Fanout) Wake() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Run claims and fans out jobs until ctx ends.
func (f *Fanout) Run(ctx context.Context) {
	for {
		lease, err := f.store.ClaimFanout(ctx, f.owner, f.cfg.Lease)
		if err != nil && ctx.Err() == nil {
			f.log.Warn("claiming fan-out failed", zap.Error(err))
		}
		if lease != nil {
			err := f.Process(ctx, lease)
			if err == nil {
				continue
			}
			if !errors.Is(err, store.ErrLeaseLost) {
				// Paused, cancelled, stopping or failing: hand the job
				// back so whoever resumes it need not wait the lease out.
				relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if rerr := f.store.Release(relCtx, lease); rerr != nil {
					f.log.Warn("releasing fan-out lease failed", zap.Error(rerr))
				}
				cancel()
			}
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, store.ErrStopped) {
				f.log.Info("fan-out stopped", zap.String("campaign_id", lease.CampaignID), zap.Int("step", lease.Step))
				continue
			}
			// This or another replica resumes from the cursor.
			f.log.Warn("fan-out paused", zap.String("campaign_id", lease.CampaignID), zap.Int("step", lease.Step), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-time.After(f.cfg.Poll):
		}
	}
}

// page is one page of members, and the cursor after it.
type page struct {
	members []events.Member
	cursor  string
	last    bool
	err     error
}

// Process runs one leased job to its end, or until an error, a pause or
// the loss of its lease.
func (f *Fanout) Process(ctx context.Context, l *store.Lease) error {
	ctx, span := f.startSpan(ctx, l)
	defer span.End()
	c, err := f.store.Get(ctx, l.CampaignID)
	if err != nil {
		return err
	}
	b, err := message.New(&c, l.Kind.Part(), l.Step, l.Notice, f.settings, f.clock())
	if err != nil {
		return fmt.Errorf("campaign %s: %w", c.ID, err)
	}
	log := f.log.With(zap.String("campaign_id", c.ID), zap.Int("step", l.Step), zap.String("channel", string(l.Channel)), tracing.ID(ctx))
	if !b.Has(l.Channel) {
		log.Info("nothing to send on this channel")
		return f.store.Complete(ctx, l)
	}
	if l.Channel == events.ChannelEmail {
		if err := f.storeContent(ctx, b); err != nil {
			return fmt.Errorf("campaign %s: %w", c.ID, err)
		}
	}
	log.Info("fan-out started", zap.String("cursor", l.Cursor))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan page, 1) // the next page is fetched while this one is published
	go f.fetch(ctx, &c, l, pages)
	var p publisher
	for pg := range pages {
		if pg.err != nil {
			return pg.err
		}
		if err := p.publish(ctx, f.js, b, pg.members, l.Channel, f.clock()); err != nil {
			return err
		}
		var record []events.Member
		if l.Step == 0 {
			record = pg.members
		}
		if err := f.store.Advance(ctx, l, pg.cursor, record, f.cfg.Lease); err != nil {
			return err
		}
		if f.members != nil {
			f.members.WithLabelValues(string(l.Channel)).Add(float64(len(pg.members)))
		}
		if pg.last {
			if err := f.store.Complete(ctx, l); err != nil {
				return err
			}
			if f.completed != nil {
				f.completed.WithLabelValues(string(l.Channel)).Inc()
			}
			log.Info("fan-out complete")
			return nil
		}
	}
	return ctx.Err()
}

// storeContent stores the step's email content, once per language, and
// waits for JetStream to keep it before any request naming it is
// published: delivery then finds it (and waits for it, redelivering,
// should it ever not). Stored under its hash, the same content stored
// again replaces itself, and different content can never take its place.
func (f *Fanout) storeContent(ctx context.Context, b *message.Builder) error {
	shared, err := b.ShareContent()
	if err != nil {
		return err
	}
	for _, c := range shared {
		msg := &nats.Msg{Subject: events.ContentSubject(c.Ref), Data: c.Data, Header: nats.Header{jetstream.MsgIDHeader: []string{c.Ref}}}
		if _, err := f.js.PublishMsg(ctx, msg); err != nil {
			return fmt.Errorf("storing email content %s: %w", c.Ref, err)
		}
	}
	return nil
}

// fetch reads pages in order into out until the last, an error or ctx's
// end: step 0 from contacts (the audience as it is now), later steps from
// the recorded recipients.
func (f *Fanout) fetch(ctx context.Context, c *campaign.Campaign, l *store.Lease, out chan<- page) {
	defer close(out)
	cursor := l.Cursor
	for {
		var pg page
		if l.Step == 0 {
			resp, err := f.contacts.Page(ctx, contacts.Request(c.Audience, l.Channel, cursor, f.cfg.PageSize))
			pg = page{members: resp.Members, cursor: cursor, last: resp.Next == "" || len(resp.Members) == 0, err: err}
		} else {
			list, err := f.store.RecipientsPage(ctx, c.ID, l.Kind, l.Channel, cursor, f.cfg.PageSize)
			pg = page{members: list, cursor: cursor, last: len(list) < f.cfg.PageSize, err: err}
		}
		if n := len(pg.members); n > 0 {
			pg.cursor = pg.members[n-1].ContactID
		}
		select {
		case out <- pg:
		case <-ctx.Done():
			return
		}
		if pg.err != nil || pg.last {
			return
		}
		cursor = pg.cursor
	}
}

// publisher keeps its buffers between pages.
type publisher struct {
	futures []jetstream.PubAckFuture
	batches *stream.BatchWriter
}

// ackTimeout bounds the wait for a page's acknowledgements: one lost in a
// broker restart fails the page, which is published again under the same
// ids.
const ackTimeout = 30 * time.Second

// publish sends one request per member, many to a JetStream message
// (stream.BatchWriter), and waits until JetStream acknowledged every
// message; only then may the cursor move. A page published again after a
// crash packs the same members into the same batches, which JetStream
// stores once; delivery's idempotency key covers any other repeat.
func (p *publisher) publish(ctx context.Context, js jetstream.JetStream, b *message.Builder, members []events.Member, ch events.Channel, now time.Time) error {
	p.futures = p.futures[:0]
	subject := events.SendSubject(ch)
	if p.batches == nil {
		p.batches = stream.NewBatchWriter()
	}
	send := func() error {
		msg := p.batches.Msg(subject)
		if trace.SpanFromContext(ctx).IsRecording() {
			pctx, span := stream.StartPublish(ctx, subject)
			tracing.Inject(pctx, msg)
			span.End()
		}
		fut, err := js.PublishMsgAsync(msg, jetstream.WithStallWait(ackTimeout))
		if err != nil {
			return fmt.Errorf("publishing send requests: %w", err)
		}
		p.futures = append(p.futures, fut)
		return nil
	}
	for i := range members {
		m := &members[i]
		if (ch == events.ChannelSMS && m.Phone == "") || (ch == events.ChannelEmail && m.Email == "") {
			continue // contacts sends only the reachable; a recipient may have lost the address
		}
		req := b.Build(m, ch, now)
		data, err := events.Encode(&req)
		if err != nil {
			return fmt.Errorf("encoding send request: %w", err)
		}
		if !p.batches.Fits(len(data)) {
			if err := send(); err != nil {
				return err
			}
		}
		p.batches.Add(data, req.IdempotencyKey)
	}
	if p.batches.Len() > 0 {
		if err := send(); err != nil {
			return err
		}
	}
	deadline := time.NewTimer(ackTimeout)
	defer deadline.Stop()
	failed := 0
	var first error
	for _, fut := range p.futures {
		select {
		case <-fut.Ok():
		case err := <-fut.Err():
			failed++
			if first == nil {
				first = err
			}
		case <-deadline.C:
			return fmt.Errorf("send requests not acknowledged within %s", ackTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d batches of send requests not acknowledged: %w", failed, len(p.futures), first)
	}
	return nil
}
