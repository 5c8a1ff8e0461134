package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/tracing"
)

// Msg is what a handler sees of one JetStream message.
type Msg struct {
	Subject    string
	Data       []byte
	Header     nats.Header
	Deliveries uint64
}

// Handler processes one message. Returning nil acknowledges it; Retry and
// Permanent say what else should happen; any other error is retried with
// back-off until the consumer's attempts run out, then dead-lettered.
type Handler func(ctx context.Context, m Msg) error

type retryError struct {
	err   error
	delay time.Duration
	// reported is a retry the handler has logged itself.
	reported bool
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// Retry asks for redelivery after delay without counting towards
// dead-lettering: for a dependency that is down (PostgreSQL, Redis, a
// provider's 429) or work deferred on purpose (quiet hours).
func Retry(err error, delay time.Duration) error { return &retryError{err: err, delay: delay} }

// Hold is Retry for a wait the handler has already reported once for all
// its messages (a channel paused while a provider refuses our
// credentials): the runner logs it at debug level only, so a queue of
// thousands held back does not log thousands of lines.
func Hold(err error, delay time.Duration) error {
	return &retryError{err: err, delay: delay, reported: true}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent says the message can never succeed (it does not decode, it
// names nothing that exists): it is dead-lettered at once.
func Permanent(err error) error { return &permanentError{err: err} }

// Consumer declares one durable pull consumer and how to run it.
type Consumer struct {
	Stream  string
	Durable string
	// Subjects filters the stream; empty takes every subject.
	Subjects []string
	// Workers handle messages concurrently (the parts of a batch, each
	// on its own). Use 1 where per-address order matters.
	Workers int
	// Parts is how many parts the consumer's messages carry, at most
	// (MaxBatchParts for send requests, which campaigns packs in
	// batches); 0 is 1. The runner holds messages for about eight parts
	// a worker, so a batch consumer does not hold a hundred times the
	// work, starving its other replicas.
	Parts int
	// MaxAttempts bounds plain errors before a message is dead-lettered.
	MaxAttempts int
	// AckWait is how long the server waits before redelivering a message
	// whose handler neither acked nor naked it. A running handler keeps
	// its message (the runner reports progress), so this is how long a
	// crashed process's messages wait for another worker.
	AckWait time.Duration
	// DeliverNew starts a new consumer at new messages only.
	DeliverNew bool
	// TracerProvider makes a consumer span of each message, continuing
	// the trace its headers carry; nil traces nothing.
	TracerProvider trace.TracerProvider
	// Clock stamps dead letters; nil is the wall clock.
	Clock func() time.Time
}

func (c Consumer) withDefaults() Consumer {
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Parts <= 0 {
		c.Parts = 1
	}
	return c
}

// Running is a consumer that is being run; Stop drains it.
type Running struct {
	cc jetstream.ConsumeContext
	// msgs takes messages from the consume callback; the splitter turns
	// each into its parts on work, which the workers take.
	msgs     chan jetstream.Msg
	work     chan job
	inflight *inflight
	// done tells workers, the splitter and the consume callback to stop
	// taking messages; anything not yet handled stays unacked and is
	// redelivered.
	done chan struct{}
	wg   sync.WaitGroup
	stop context.CancelFunc
}

// pullBytes bounds one pull request's messages in bytes: far below the
// server's per-client max_pending (64 MB) and far above the largest message
// a stream takes (1 MB).
const pullBytes = 8 << 20

// Run declares the durable consumer (idempotently) and starts handling its
// messages until Stop.
func Run(ctx context.Context, js jetstream.JetStream, spec Consumer, h Handler, log *zap.Logger) (*Running, error) {
	spec = spec.withDefaults()
	// The server hands out at most maxPending unacked messages across all
	// replicas; the local queue can hold them all, so the consume callback
	// never blocks and every message is kept alive from arrival on.
	maxPending := max(spec.Workers*8/spec.Parts, 256/spec.Parts, 4)
	cfg := jetstream.ConsumerConfig{
		Durable:       spec.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       spec.AckWait,
		MaxDeliver:    -1, // the runner decides when to give up; see Handler
		MaxAckPending: maxPending,
	}
	if spec.DeliverNew {
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	switch len(spec.Subjects) {
	case 0:
	case 1:
		cfg.FilterSubject = spec.Subjects[0]
	default:
		cfg.FilterSubjects = spec.Subjects
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, spec.Stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("declaring consumer %s on %s: %w", spec.Durable, spec.Stream, err)
	}
	log = log.With(zap.String("consumer", spec.Durable))
	workCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r := &Running{msgs: make(chan jetstream.Msg, maxPending), work: make(chan job, spec.Workers),
		inflight: &inflight{msgs: map[jetstream.Msg]struct{}{}}, done: make(chan struct{}), stop: stop}
	d := dispatcher{js: js, spec: spec, handle: h, log: log, inflight: r.inflight}
	if spec.TracerProvider != nil {
		d.tracer = spec.TracerProvider.Tracer(tracerName)
	}
	// Ends with workCtx, which Stop cancels once the workers are done.
	go r.inflight.keepAlive(workCtx, spec.AckWait/3)
	r.wg.Go(func() { r.split(workCtx, d) })
	for range spec.Workers {
		r.wg.Go(func() {
			for {
				select {
				case j, ok := <-r.work:
					if !ok {
						return
					}
					d.run(workCtx, j)
				case <-r.done:
					return
				}
			}
		})
	}
	r.cc, err = cons.Consume(func(m jetstream.Msg) {
		// From here until it is acked the message is kept alive, so one
		// waiting for a free worker is not redelivered meanwhile.
		r.inflight.add(m)
		select {
		case r.msgs <- m:
		case <-r.done:
			r.inflight.remove(m)
		}
	},
		// Each pull asks for at most pullBytes: the server drops a client
		// whose unread data passes its max_pending (64 MB by default) as a
		// slow consumer, and everything delivered on that connection waits
		// out AckWait. 4,000 emails of 15 KB in one pull did that.
		jetstream.PullMaxMessagesWithBytesLimit(max(spec.Workers*2/spec.Parts, 16/spec.Parts, 2), pullBytes),
		// Pull requests last 5s (heartbeats every 2.5s) instead of 30s
		// (15s): when the node holding the consumer's pulls dies, a missed
		// heartbeat re-issues them within seconds; the suite measured 24s
		// to recover from a stream leader's loss with the default.
		jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			log.Debug("consume error", zap.Error(err))
		}))
	if err != nil {
		stop()
		close(r.done)
		r.wg.Wait()
		return nil, fmt.Errorf("consuming %s: %w", spec.Durable, err)
	}
	return r, nil
}

// Stop drains the consumer: buffered messages are handled until ctx's
// deadline, then the workers end once their current message is done.
// Messages not handled by then are left unacked and will be redelivered.
func (r *Running) Stop(ctx context.Context) {
	r.cc.Drain()
	select {
	case <-r.cc.Closed():
		// The callback has returned for good: the splitter and the
		// workers finish what it handed them, then end.
		close(r.msgs)
	case <-ctx.Done():
		r.cc.Stop()
		close(r.done) // the callback may be blocked handing over; release it
	}
	finished := make(chan struct{})
	go func() { r.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		r.stop() // cancel handlers still running, then wait for them
		<-finished
	}
	r.stop()
}

type dispatcher struct {
	js       jetstream.JetStream
	spec     Consumer
	handle   Handler
	log      *zap.Logger
	inflight *inflight
	tracer   trace.Tracer // nil: untraced
}

func (d dispatcher) now() time.Time {
	if d.spec.Clock != nil {
		return d.spec.Clock()
	}
	return time.Now()
}

// inflight holds the messages this process has been given and not yet
// answered. They are reported in progress to the server every third of
// AckWait, so a message is redelivered only when its holder is gone (a
// crash), never while it waits for a worker or for rate-limit room.
type inflight struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]struct{}
}

func (f *inflight) add(m jetstream.Msg) {
	f.mu.Lock()
	f.msgs[m] = struct{}{}
	f.mu.Unlock()
}

func (f *inflight) remove(m jetstream.Msg) {
	f.mu.Lock()
	delete(f.msgs, m)
	f.mu.Unlock()
}

func (f *inflight) keepAlive(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		msgs := make([]jetstream.Msg, 0, len(f.msgs))
		for m := range f.msgs {
			msgs = append(msgs, m)
		}
		f.mu.Unlock()
		for _, m := range msgs {
			_ = m.InProgress()
		}
	}
}

// job is one part of a message, for a worker.
type job struct {
	part  []byte
	index int // of the part in its batch
	batch *batch
}

// batch is a message being handled part by part (a message that is not a
// batch is one part), and what its parts asked for so far.
type batch struct {
	m          jetstream.Msg
	deliveries uint64
	seq        uint64 // in the stream; 0 when unknown

	total int // parts

	mu   sync.Mutex
	left int // parts not yet done
	dead int // parts dead-lettered
	// again redelivers the whole message after delay, the longest any
	// part asked for.
	again bool
	delay time.Duration
	cause error // the first dead-lettered part's, for the termination
}

// outcome is what one finished part asks of its message.
type outcome struct {
	again bool
	delay time.Duration
	dead  error
}

// finish records one part's outcome and says whether it was the last.
func (b *batch) finish(o outcome) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o.again {
		b.again = true
		b.delay = max(b.delay, o.delay)
	}
	if o.dead != nil {
		b.dead++
		if b.cause == nil {
			b.cause = o.dead
		}
	}
	b.left--
	return b.left == 0
}

// split turns each message from the consume callback into jobs, one per
// part, until the callback is done or the runner stops.
func (r *Running) split(ctx context.Context, d dispatcher) {
	defer close(r.work)
	for {
		var m jetstream.Msg
		select {
		case msg, ok := <-r.msgs:
			if !ok {
				return
			}
			m = msg
		case <-r.done:
			return
		}
		b := &batch{m: m, deliveries: 1}
		if meta, err := m.Metadata(); err == nil {
			b.deliveries, b.seq = meta.NumDelivered, meta.Sequence.Stream
		}
		ps, err := Parts(m.Headers(), m.Data())
		if err != nil {
			// The framing itself cannot be read: no part can be handed
			// out, so the message is kept whole for operators.
			log := d.log.With(tracing.ID(ctx))
			if d.deadLetter(ctx, log, b, -1, m.Data(), Permanent(err)) {
				_ = m.TermWithReason(err.Error())
			} else {
				_ = m.NakWithDelay(backoff(b.deliveries))
			}
			d.inflight.remove(m)
			continue
		}
		b.total, b.left = len(ps), len(ps)
		for i, p := range ps {
			select {
			case r.work <- job{part: p, index: i, batch: b}:
			case <-r.done:
				return
			}
		}
	}
}

// run handles one part and, when it is its message's last, answers the
// message.
func (d dispatcher) run(ctx context.Context, j job) {
	b := j.batch
	span := trace.SpanFromContext(ctx)
	if d.tracer != nil {
		ctx, span = d.tracer.Start(tracing.Extract(ctx, b.m.Headers()), "consume "+d.spec.Durable, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", b.m.Subject()),
				attribute.String("messaging.consumer.group.name", d.spec.Durable), attribute.Int64("messaging.message.delivery_count", int64(b.deliveries))))
		defer span.End()
	}
	var o outcome
	if err := d.handle(ctx, Msg{Subject: b.m.Subject(), Data: j.part, Header: b.m.Headers(), Deliveries: b.deliveries}); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
		o = d.failed(ctx, j, err)
	}
	if b.finish(o) {
		d.answer(ctx, b)
	}
}

// failed says what a part's error asks for: a retry of the message, or
// the part dead-lettered on its own.
func (d dispatcher) failed(ctx context.Context, j job, err error) outcome {
	b := j.batch
	// Only a failure logs: a logger with fields costs a copy of its
	// encoder, which every acknowledged message used to pay.
	log := d.log.With(tracing.ID(ctx))
	var retry *retryError
	var perm *permanentError
	switch {
	case errors.As(err, &retry):
		// Logged once per message: a dependency outage would otherwise
		// log every message on every retry.
		if b.deliveries <= 1 && !retry.reported {
			log.Warn("retrying later", zap.Duration("delay", retry.delay), zap.Error(err))
		} else {
			log.Debug("retrying later", zap.Uint64("deliveries", b.deliveries), zap.Duration("delay", retry.delay), zap.Error(err))
		}
		return outcome{again: true, delay: retry.delay}
	case errors.As(err, &perm), int(b.deliveries) >= d.spec.MaxAttempts:
		if d.deadLetter(ctx, log, b, j.index, j.part, err) {
			return outcome{dead: err}
		}
		return outcome{again: true, delay: backoff(b.deliveries)}
	default:
		delay := backoff(b.deliveries)
		log.Warn("handler failed; retrying", zap.Uint64("deliveries", b.deliveries), zap.Duration("delay", delay), zap.Error(err))
		return outcome{again: true, delay: delay}
	}
}

// answer tells the server what became of a message whose parts are all
// done: redelivered when any part asked for it, terminated when every
// part was dead-lettered, else acknowledged.
func (d dispatcher) answer(ctx context.Context, b *batch) {
	defer d.inflight.remove(b.m)
	switch {
	case b.again:
		_ = b.m.NakWithDelay(b.delay)
	case b.dead == b.total:
		_ = b.m.TermWithReason(b.cause.Error())
	default:
		if err := b.m.Ack(); err != nil {
			d.log.With(tracing.ID(ctx)).Warn("ack failed; message will be redelivered", zap.Error(err))
		}
	}
}

// deadLetter keeps a message's part (index -1: the whole message) for
// operators and says whether it did; if the dead letter cannot be stored
// the caller retries the message instead, so nothing is ever dropped
// silently. The dead letter's event id (its Nats-Msg-Id, as for every
// event) is derived from the message's stream sequence and the part's
// place, so a part dead-lettered again when its batch comes back for
// another part is stored once.
func (d dispatcher) deadLetter(ctx context.Context, log *zap.Logger, b *batch, index int, part []byte, cause error) bool {
	m := b.m
	correlation := m.Headers().Get("Correlation-Id")
	meta := events.NewMeta(events.TypeDeadLettered, events.VersionDeadLettered, correlation, d.now())
	if b.seq > 0 {
		// The event id, and so its Nats-Msg-Id and delivery's key for the
		// dead letter, names the message and part.
		sum := sha256.Sum256(fmt.Appendf(nil, "dead.%s.%d.%d", d.spec.Durable, b.seq, index))
		meta.ID = hex.EncodeToString(sum[:16])
		if correlation == "" {
			meta.CorrelationID = meta.ID
		}
	}
	dl := events.DeadLettered{
		Meta: meta, Consumer: d.spec.Durable, Subject: m.Subject(), Data: part,
		Error: cause.Error(), Deliveries: b.deliveries,
	}
	data, err := events.Encode(dl)
	if err == nil {
		pubCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = d.js.Publish(pubCtx, events.SubjectDeadLetterPrefix+d.spec.Durable, data, jetstream.WithMsgID(dl.ID))
		cancel()
	}
	if err != nil {
		log.Error("dead-lettering failed; retrying message", zap.NamedError("cause", cause), zap.Error(err))
		return false
	}
	log.Error("message dead-lettered", zap.String("subject", m.Subject()), zap.Uint64("deliveries", b.deliveries), zap.Error(cause))
	return true
}

// backoff grows from 100ms to 30s with the number of deliveries.
func backoff(deliveries uint64) time.Duration {
	d := 100 * time.Millisecond
	for i := uint64(1); i < deliveries && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}
