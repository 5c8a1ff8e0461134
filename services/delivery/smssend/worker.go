// Package smssend is the SMS send pipeline. For each message: the member's
// pause and the hours they may be texted (the organization's window, their
// state's and their own, in their time zone), their frequency caps, their
// LESS and their state's daily limit, and rate-limit room
// for every budget the send draws on are decided first; then one statement
// records the message under its idempotency key and, unless the address is
// suppressed, claims it for sending (a message held by the rules is
// recorded as deferred instead); then the provider call, and a status for
// every outcome. It fails closed: without a written record, a rate-limit
// decision and a confirmed suppression check nothing is sent. It speaks
// only delivery's neutral provider vocabulary (package provider): which
// provider sends, and how its words map onto ours, is wiring.
package smssend

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/batch"
	"github.com/musterhq/muster/services/delivery/freqcap"
	"github.com/musterhq/muster/services/delivery/metrics"
	"github.com/musterhq/muster/services/delivery/pause"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/ratelimit"
	"github.com/musterhq/muster/services/delivery/rhythm"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/phone"
	"github.com/musterhq/muster/shared/sms"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/tracing"
)

// MaxSMSBody is the longest body a text may have, in characters (ten
// concatenated segments; Twilio's limit too).
const MaxSMSBody = 1600

// Publisher announces what happened to messages.
type Publisher interface {
	Status(ctx context.Context, m store.Message)
	Statuses(ctx context.Context, ms []store.Message)
}

// RateLimiter waits for room in shared send budgets.
type RateLimiter interface {
	Wait(ctx context.Context, buckets []ratelimit.Bucket, segments int) (time.Duration, error)
}

// CapCounter counts a member's texts against the organization's
// frequency caps (ReserveMany, for many texts at once) and against the
// member's own and their state's limits (ReserveIn, in a bucket of
// freqcap's).
type CapCounter interface {
	ReserveMany(ctx context.Context, rs []freqcap.Reservation) ([]freqcap.Reserved, error)
	Release(ctx context.Context, address, messageID string) error
	ReserveIn(ctx context.Context, bucket, address, messageID string, now time.Time, caps freqcap.Caps) (bool, time.Time, error)
	ReleaseIn(ctx context.Context, bucket, address, messageID string) error
}

// Config is how the worker addresses and paces messages.
type Config struct {
	// Provider names the provider in metrics and logs ("twilio").
	Provider string
	// From is the sending number; ServiceID a pool of numbers the
	// provider picks from instead; AccountID the provider account. Each
	// is a rate-limit budget.
	From      string
	ServiceID string
	AccountID string
	// Rules are the organization's current settings: the send window,
	// its time zone (for members whose zone is known neither from their
	// record nor from their number) and the frequency caps.
	Rules func() settings.Rules
	// MinOpen is the least time left in a window worth sending into:
	// closer to its end, the text waits for the next window, so a queued
	// text cannot arrive in quiet hours.
	MinOpen time.Duration
	// MaxAge expires a message still unsent this long after it was
	// recorded (say, held by caps for days).
	MaxAge time.Duration
	// Rates per second, in segments; 0 means unlimited.
	SenderRate, ServiceRate, AccountRate int
	// Clock is the time source; tests drive it.
	Clock func() time.Time
	// States are the states' stricter hours and limits (nil: none).
	States *rhythm.StateRules
	// Gate pauses texting while the provider refuses our credentials;
	// nil never pauses.
	Gate *pause.Gate
	// TracerProvider makes a span of each provider call; nil traces
	// nothing.
	TracerProvider trace.TracerProvider
}

// Worker handles send requests from the SEND stream and deferred messages
// from the sweeper.
type Worker struct {
	cfg     Config
	zones   *quiet.Zoner
	claims  *batch.Batcher[claim, claimed]
	settles *batch.Batcher[store.Outcome, store.Applied]
	// rhythms reads members' rhythms for many texts in one statement,
	// as claims and settles write them: a text adds no round trip of its
	// own to the send path.
	rhythms *batch.Batcher[string, store.Rhythm]
	// reserves counts many texts against the caps in one round trip to
	// Redis, for the same reason.
	reserves *batch.Batcher[freqcap.Reservation, freqcap.Reserved]
	store    *store.Store
	sms      provider.SMSSender
	pub      Publisher
	limiter  RateLimiter
	caps     CapCounter
	metrics  *metrics.Metrics
	log      *zap.Logger
	tracer   trace.Tracer // nil: untraced
	traces   *batch.Batcher[store.Trace, struct{}]
}

// New builds a worker.
func New(cfg Config, st *store.Store, sender provider.SMSSender, pub Publisher, limiter RateLimiter, caps CapCounter, m *metrics.Metrics, log *zap.Logger) *Worker {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Provider == "" {
		cfg.Provider = "sms"
	}
	if cfg.Gate == nil {
		cfg.Gate = pause.New("sms", cfg.Provider, m, cfg.Clock, log)
	}
	w := &Worker{cfg: cfg, zones: quiet.NewZoner(), store: st, sms: sender, pub: pub, limiter: limiter, caps: caps, metrics: m, log: log}
	if cfg.TracerProvider != nil {
		w.tracer = cfg.TracerProvider.Tracer(tracerName)
		w.traces = batch.New(w.rememberBatch, 200, 2*time.Millisecond)
	}
	w.claims = batch.New(w.claimBatch, 200, 2*time.Millisecond)
	w.settles = batch.New(w.settleBatch, 200, 2*time.Millisecond)
	w.rhythms = batch.New(w.rhythmBatch, 200, 2*time.Millisecond)
	w.reserves = batch.New(caps.ReserveMany, 200, 2*time.Millisecond)
	return w
}

// RunBatches serves the batched writes until ctx ends: many workers'
// records and outcomes go to PostgreSQL a few statements at a time.
func (w *Worker) RunBatches(ctx context.Context) {
	go w.claims.Run(ctx)
	go w.rhythms.Run(ctx)
	go w.reserves.Run(ctx)
	if w.traces != nil {
		go w.traces.Run(ctx)
	}
	w.settles.Run(ctx)
}

// rhythmBatch reads a batch of members' rhythms; a member without one
// gets the defaults.
func (w *Worker) rhythmBatch(ctx context.Context, addrs []string) ([]store.Rhythm, error) {
	found, err := w.store.Rhythms(ctx, addrs)
	if err != nil {
		return nil, err
	}
	out := make([]store.Rhythm, len(addrs))
	for i, a := range addrs {
		r, ok := found[a]
		if !ok {
			r = store.Rhythm{Address: a, Channels: "both"}
		}
		out[i] = r
	}
	return out, nil
}

type claim struct {
	req      events.SendRequested
	segments int
}

type claimed struct {
	msg     store.Message
	created bool
}

// claimBatch records and claims a batch of new requests in one statement.
// A key that was recorded before (or twice in the batch) comes back with
// created false and the row as it stands.
func (w *Worker) claimBatch(ctx context.Context, cs []claim) ([]claimed, error) {
	reqs, segs := make([]events.SendRequested, len(cs)), make([]int, len(cs))
	for i, c := range cs {
		reqs[i], segs[i] = c.req, c.segments
	}
	created, err := w.store.RecordAndClaimMany(ctx, reqs, segs)
	if err != nil {
		return nil, err
	}
	out := make([]claimed, len(cs))
	taken := make(map[string]bool, len(cs))
	for i, c := range cs {
		key := c.req.IdempotencyKey
		if m, ok := created[key]; ok && !taken[key] {
			taken[key] = true
			out[i] = claimed{msg: m, created: true}
			continue
		}
		m, err := w.store.ByKey(ctx, key)
		if err != nil {
			return nil, err
		}
		out[i] = claimed{msg: m}
	}
	return out, nil
}

// settleBatch applies many outcomes in one statement and announces the
// messages that moved, once each, before any of their requests is
// acknowledged. The same message twice in one batch (a request published
// twice) takes its highest outcome, only forward, as callbacks do.
func (w *Worker) settleBatch(ctx context.Context, outs []store.Outcome) ([]store.Applied, error) {
	applied, err := w.store.ApplyReports(ctx, outs)
	if err != nil {
		return nil, err
	}
	var moved []store.Message
	for i, a := range applied {
		if a.Message.ID == "" {
			return nil, fmt.Errorf("settling outcomes: message %s not found", outs[i].ID)
		}
		if a.Moved {
			moved = append(moved, a.Message)
		}
	}
	w.pub.Statuses(ctx, moved)
	return applied, nil
}

// Handle is the stream handler for one send request.
func (w *Worker) Handle(ctx context.Context, m stream.Msg) error {
	req, err := events.DecodeSendRequested(m.Data)
	if err != nil {
		return stream.Permanent(err)
	}
	if reason := invalid(req); reason != "" {
		return w.refuse(ctx, req, reason)
	}
	// While the provider refuses our credentials nothing is recorded, reserved
	// or claimed: the request waits on the stream for the next probe.
	if ok, wait := w.cfg.Gate.Allow(); !ok {
		return stream.Hold(pause.ErrPaused, wait)
	}
	segments := sms.Measure(req.Body).Segments
	d, err := w.admit(ctx, recipient{to: req.To, timeZone: req.TimeZone, state: req.State, key: req.IdempotencyKey,
		defaultWindow: req.DefaultWindow, urgent: req.Urgent, segments: segments, notAfter: req.NotAfter})
	if err != nil {
		return err
	}
	if d.hold || d.late {
		msg, created, err := w.store.Record(ctx, req, segments)
		if err != nil {
			return stream.Retry(err, time.Second)
		}
		if !created && msg.Status != status.Queued {
			return w.resume(ctx, msg)
		}
		if d.late {
			return w.expire(ctx, msg)
		}
		return w.hold(ctx, msg, d.until, d.reason)
	}
	c, err := w.claims.Do(ctx, claim{req: req, segments: segments})
	if err != nil {
		w.releaseCap(ctx, req.To, req.IdempotencyKey)
		return stream.Retry(err, time.Second)
	}
	msg, created := c.msg, c.created
	if !created {
		if msg.Status == status.Queued {
			return w.Process(ctx, msg) // deferred or released earlier: the rules again
		}
		return w.resume(ctx, msg)
	}
	return w.actOnClaim(ctx, msg, msg.Status, d.open)
}

// recipient is what the send rules read of a message.
type recipient struct {
	to, timeZone, state, key string
	// defaultWindow is the request's DefaultWindow ("nights" for a
	// night-shift member).
	defaultWindow string
	urgent        bool
	segments      int
	// notAfter is zero when the text has no event to be late for.
	notAfter time.Time
}

// decision is what the send rules say about a message now.
type decision struct {
	hold   bool
	until  time.Time
	reason string
	// late is a text that could only go after its event (NotAfter): it
	// ends expired.
	late bool
	// open is how long the member's window stays open, for the text's
	// validity at the provider.
	open time.Duration
}

// admit applies the send rules in order: the member's pause, the
// intersection of the organization's window, their state's hours and
// their own window (package rhythm), then the organization's frequency cap
// (which an urgent alert bypasses), the member's LESS and their state's
// limit in 24 hours (which nothing bypasses), and the rate limits. It
// either holds the message until a time, says it would be late for its
// event, or returns once it may be sent now (its counts reserved, its
// rate-limit room taken). An infrastructure failure is a retry: no send
// without a decision.
func (w *Worker) admit(ctx context.Context, rc recipient) (decision, error) {
	now := w.cfg.Clock()
	rules := w.cfg.Rules()
	zones := w.zones.Zones(rc.timeZone, rc.to, rules.Zone)
	member, err := w.rhythms.Do(ctx, rc.to)
	if err != nil {
		return decision{}, stream.Retry(err, time.Second)
	}
	limits := w.limits(now, rules, member, rc)
	o := limits.Next(now, zones, w.cfg.MinOpen)
	if rhythm.Late(o.At, rc.notAfter) {
		return decision{late: true}, nil
	}
	if o.At.After(now) {
		if !o.Found {
			w.log.Warn("member's window never meets their legal hours; looking again in a day", zap.String("idempotency_key", rc.key))
		}
		return decision{hold: true, until: o.At, reason: o.Reason}, nil
	}
	capped, err := w.reserves.Do(ctx, freqcap.Reservation{Address: rc.to, MessageID: rc.key, Now: now, Urgent: rc.urgent, Caps: rules.Caps})
	if err != nil {
		return decision{}, stream.Retry(err, time.Second)
	}
	if !capped.OK {
		return decision{hold: true, until: capped.Free, reason: rhythm.ReasonCap, late: rhythm.Late(capped.Free, rc.notAfter)}, nil
	}
	// The member's and the state's own counts: never bypassed.
	var counts []count
	if member.Less {
		counts = append(counts, count{freqcap.BucketLess, rhythm.ReasonFewerTexts, freqcap.Caps{PerWeek: 1}})
	}
	if limits.State != nil && limits.State.MaxPer24h > 0 {
		counts = append(counts, count{freqcap.BucketState, rhythm.ReasonStateRule, freqcap.Caps{PerDay: limits.State.MaxPer24h}})
	}
	for _, l := range counts {
		ok, free, err := w.caps.ReserveIn(ctx, l.bucket, rc.to, rc.key, now, l.caps)
		if err != nil {
			w.releaseCap(ctx, rc.to, rc.key)
			return decision{}, stream.Retry(err, time.Second)
		}
		if !ok {
			w.releaseCap(ctx, rc.to, rc.key)
			return decision{hold: true, until: free, reason: l.reason, late: rhythm.Late(free, rc.notAfter)}, nil
		}
	}
	waited, err := w.limiter.Wait(ctx, w.buckets(), rc.segments)
	if err != nil {
		w.releaseCap(ctx, rc.to, rc.key)
		return decision{}, stream.Retry(err, time.Second)
	}
	w.metrics.RateLimitWait.Observe(waited.Seconds())
	// Whatever is left of the window after the waits bounds how long
	// the provider may keep the text queued. A window that closed during them
	// (a long wait for rate-limit room) holds the text for the next one.
	after := w.cfg.Clock()
	if o = limits.Next(after, zones, 0); o.At.After(after) {
		w.releaseCap(ctx, rc.to, rc.key)
		return decision{hold: true, until: o.At, reason: o.Reason, late: rhythm.Late(o.At, rc.notAfter)}, nil
	}
	return decision{open: o.Open}, nil
}

// limits are the hours a text to rc may go in now: the organization's
// window, their state's rule, their own window (or the shift-aware
// default when they never chose one) and their pause. The send path and
// the launch forecast both ask here, so the forecast cannot drift from
// what the worker does.
func (w *Worker) limits(now time.Time, rules settings.Rules, member store.Rhythm, rc recipient) rhythm.Limits {
	limits := rhythm.Limits{Org: rules.Window, Member: member.Window}
	if rules.ShiftAware && member.Window == nil && !member.ChoseHours && rc.defaultWindow == events.DefaultWindowNights {
		// The shift-aware default: a night-shift member who never chose
		// their hours is held as if they had texted NIGHTS.
		nights := rhythm.Nights
		limits.Member = &nights
	}
	if w.cfg.States != nil {
		limits.State = w.cfg.States.For(rhythm.StateOf(rc.state, rc.to))
	}
	if member.Paused(now) {
		limits.PausedUntil = *member.PausedUntil
	}
	return limits
}

// count is one of the member's or their state's own limits on texts.
type count struct {
	bucket, reason string
	caps           freqcap.Caps
}

// invalid says why a request can never be sent, or "".
func invalid(req events.SendRequested) string {
	switch {
	case req.Channel != events.ChannelSMS:
		return fmt.Sprintf("channel %q is not one delivery sends on yet", req.Channel)
	case !phone.IsE164(req.To):
		return "recipient is not an E.164 phone number"
	case req.Body == "":
		return "empty body"
	case utf8.RuneCountInString(req.Body) > MaxSMSBody:
		return fmt.Sprintf("body is over %d characters", MaxSMSBody)
	}
	return ""
}

// refuse logs a request that can never be sent as failed, so the message
// log accounts for it.
func (w *Worker) refuse(ctx context.Context, req events.SendRequested, reason string) error {
	msg, created, err := w.store.RecordFailed(ctx, req, reason)
	if err != nil {
		return stream.Retry(err, time.Second)
	}
	if created {
		w.log.Warn("send request refused", zap.String("idempotency_key", req.IdempotencyKey), zap.String("reason", reason))
		w.pub.Status(ctx, msg)
	}
	return nil
}

// resume handles a request seen before. Only a message left in sending
// needs anything: the process stopped during its provider call, so it may
// have gone out. It is never resent; it is marked unknown until a status
// callback (which carries our id) or the reconciler settles it.
func (w *Worker) resume(ctx context.Context, msg store.Message) error {
	if msg.Status != status.Sending {
		return nil
	}
	w.log.Warn("provider call outcome unknown after restart; not resending", zap.String("message_id", msg.ID))
	return w.settle(ctx, msg.ID, store.Update{Status: status.Unknown, Reason: "interrupted during provider call; awaiting callback"})
}

// Process runs a recorded, queued message (deferred, or released after a
// provider refusal) through the send rules again. The sweeper calls it
// for messages that come due; the claim makes sure only one caller sends.
func (w *Worker) Process(ctx context.Context, msg store.Message) error {
	if w.cfg.MaxAge > 0 && w.cfg.Clock().Sub(msg.CreatedAt) > w.cfg.MaxAge {
		return w.settle(ctx, msg.ID, store.Update{Status: status.Expired, Reason: fmt.Sprintf("not sendable within %s", w.cfg.MaxAge)})
	}
	rc := recipient{to: msg.To, timeZone: msg.TimeZone, state: msg.State, key: msg.IdempotencyKey, defaultWindow: msg.DefaultWindow,
		urgent: msg.Urgent, segments: msg.Segments}
	if msg.NotAfter != nil {
		rc.notAfter = *msg.NotAfter
	}
	d, err := w.admit(ctx, rc)
	if err != nil {
		return err
	}
	if d.late {
		return w.expire(ctx, msg)
	}
	if d.hold {
		return w.hold(ctx, msg, d.until, d.reason)
	}
	st, err := w.store.Claim(ctx, msg.ID)
	if err != nil {
		w.releaseCap(ctx, msg.To, msg.IdempotencyKey)
		return stream.Retry(err, time.Second)
	}
	return w.actOnClaim(ctx, msg, st, d.open)
}

// actOnClaim acts on the outcome of a claim: send, or report the
// suppression.
func (w *Worker) actOnClaim(ctx context.Context, msg store.Message, st status.Status, open time.Duration) error {
	switch st {
	case "":
		return nil // another worker holds it
	case status.Suppressed:
		w.releaseCap(ctx, msg.To, msg.IdempotencyKey)
		w.announce(ctx, msg.ID)
		return nil
	}
	return w.send(ctx, msg, open)
}

func (w *Worker) buckets() []ratelimit.Bucket {
	return []ratelimit.Bucket{
		{Key: "sender:" + w.cfg.From, PerSecond: w.cfg.SenderRate},
		{Key: "service:" + w.cfg.ServiceID, PerSecond: w.cfg.ServiceRate},
		{Key: "account:" + w.cfg.AccountID, PerSecond: w.cfg.AccountRate},
	}
}

// hold defers a message to at; it is acknowledged on the stream and the
// sweeper brings it back then.
func (w *Worker) hold(ctx context.Context, msg store.Message, at time.Time, reason string) error {
	deferred, err := w.store.Defer(ctx, msg.ID, at, reason)
	if err != nil {
		return stream.Retry(err, time.Second)
	}
	if deferred {
		w.metrics.Deferrals.WithLabelValues(reason).Inc()
		w.log.Debug("message deferred", zap.String("message_id", msg.ID), zap.String("reason", reason), zap.Time("until", at))
		// Campaigns counts a queued message with a reason as deferred.
		held := msg
		held.Status = status.Queued
		held.Reason = events.DeferredReason(reason, at)
		w.pub.Status(ctx, held)
	}
	return nil
}

// Late is the reason a text that could go only after its event ends
// expired.
const Late = "would arrive after the event"

// expire ends a queued text that could only go after its event: never
// sent late, and the message log and campaigns' results show why.
func (w *Worker) expire(ctx context.Context, msg store.Message) error {
	return w.settle(ctx, msg.ID, store.Update{Status: status.Expired, Reason: Late})
}

func (w *Worker) send(ctx context.Context, msg store.Message, validity time.Duration) error {
	ctx, span := w.startSend(ctx, msg)
	defer span.End()
	start := time.Now()
	sid, err := w.sms.Send(ctx, provider.SMS{
		MessageID: msg.ID, To: msg.To, From: w.cfg.From, ServiceID: w.cfg.ServiceID, Body: msg.Body, Validity: validity,
	})
	kind, code := provider.Classify(err)
	outcome := "ok"
	if err != nil {
		outcome = kind.String()
		span.SetStatus(codes.Error, outcome)
	}
	w.metrics.ProviderLatency.WithLabelValues(w.cfg.Provider, outcome).Observe(time.Since(start).Seconds())
	if kind != provider.Unauthorized {
		// Any answer but a credential refusal means the provider took
		// our credentials: a pause ends.
		w.cfg.Gate.Accepted()
	}
	if err == nil {
		return w.settle(ctx, msg.ID, store.Update{Status: status.Accepted, ProviderID: sid})
	}
	fields := []zap.Field{zap.String("message_id", msg.ID), zap.String("provider", w.cfg.Provider), zap.String("code", code), tracing.ID(ctx), zap.Error(err)}
	switch kind {
	case provider.Retryable:
		w.releaseCap(ctx, msg.To, msg.IdempotencyKey)
		if err := w.store.Release(ctx, msg.ID); err != nil {
			return stream.Retry(err, time.Second)
		}
		delay := time.Second + rand.N(time.Second)
		w.log.Debug("provider busy; retrying", append(fields, zap.Duration("delay", delay))...)
		return stream.Retry(err, delay)
	case provider.Unauthorized:
		// Nothing went out and the text is not at fault: back in the
		// queue, its cap slot given back, and the channel paused. The
		// gate logs the refusal once for all texts.
		w.releaseCap(ctx, msg.To, msg.IdempotencyKey)
		if err := w.store.Release(ctx, msg.ID); err != nil {
			return stream.Retry(err, time.Second)
		}
		return stream.Hold(fmt.Errorf("%w: %w", pause.ErrPaused, err), w.cfg.Gate.Refused(code, err))
	case provider.Stopped:
		w.releaseCap(ctx, msg.To, msg.IdempotencyKey)
		w.log.Info("carrier reports recipient opted out", append(fields, logging.Phone("to", msg.To))...)
		if err := w.suppress(ctx, msg, code); err != nil {
			return stream.Retry(err, time.Second)
		}
		return w.settle(ctx, msg.ID, store.Update{Status: status.Suppressed, ErrorCode: code, Reason: "carrier reports recipient opted out"})
	case provider.Permanent:
		w.releaseCap(ctx, msg.To, msg.IdempotencyKey)
		w.log.Warn("send failed for good", fields...)
		return w.settle(ctx, msg.ID, store.Update{Status: status.Failed, ErrorCode: code, Reason: err.Error()})
	default:
		w.log.Warn("send outcome ambiguous; not resending", fields...)
		return w.settle(ctx, msg.ID, store.Update{Status: status.Unknown, ErrorCode: code, Reason: "ambiguous provider answer: " + err.Error()})
	}
}

// releaseCap gives back a cap slot for a text that did not go out. A
// failure only means the member's quota is used up a little early.
func (w *Worker) releaseCap(ctx context.Context, to, key string) {
	if err := w.caps.Release(ctx, to, key); err != nil {
		w.log.Warn("frequency cap not released", zap.String("idempotency_key", key), zap.Error(err))
	}
	// The member's and the state's counts too; releasing a text never
	// counted there does nothing.
	for _, b := range []string{freqcap.BucketLess, freqcap.BucketState} {
		if err := w.caps.ReleaseIn(ctx, b, to, key); err != nil {
			w.log.Warn("member limit not released", zap.String("bucket", b), zap.String("idempotency_key", key), zap.Error(err))
		}
	}
}

// settle applies an outcome (batched with other workers') and announces
// it when the message moved.
func (w *Worker) settle(ctx context.Context, id string, u store.Update) error {
	if _, err := w.settles.Do(ctx, store.Outcome{ID: id, Update: u}); err != nil {
		// The provider call is done; retrying only re-applies the outcome
		// (resume sees sending and marks unknown rather than resend).
		return stream.Retry(err, time.Second)
	}
	return nil
}

func (w *Worker) announce(ctx context.Context, id string) {
	msg, err := w.store.Get(ctx, id)
	if err != nil {
		w.log.Error("reading message to announce", zap.String("message_id", id), zap.Error(err))
		return
	}
	w.pub.Status(ctx, msg)
}

// suppress records a carrier-level opt-out like a STOP, announcing it
// through the outbox.
func (w *Worker) suppress(ctx context.Context, msg store.Message, code string) error {
	now := w.cfg.Clock().UTC()
	evidence := w.cfg.Provider + " error " + code
	_, err := w.store.Suppress(ctx, store.Suppression{
		Channel: msg.Channel, Address: msg.To, Reason: "carrier opt-out", Source: events.SourceProvider,
		Evidence: evidence, At: w.cfg.Clock(),
		Announce: &events.ConsentChanged{
			Meta:    events.KeyedMeta("carrier-stop."+msg.ID, events.TypeConsentChanged, msg.CorrelationID, now),
			Channel: events.Channel(msg.Channel), Address: msg.To, Change: events.ConsentOptedOut,
			Source: events.SourceProvider, Evidence: evidence, At: now,
		},
	})
	return err
}

// Sweep brings deferred messages back when they come due, until ctx
// ends. Any number of replicas may sweep; each leases its batch.
func (w *Worker) Sweep(ctx context.Context, every time.Duration) {
	for {
		// While texting is paused the sweeper takes one message per probe
		// window, as the probe; the rest stay deferred.
		limit := 200
		if w.cfg.Gate.Paused() {
			limit = 0
			if ok, _ := w.cfg.Gate.Allow(); ok {
				limit = 1
			}
		}
		var due []store.Message
		var err error
		if limit > 0 {
			due, err = w.store.Due(ctx, w.cfg.Clock(), 5*time.Minute, limit)
		}
		if limit == 1 && len(due) == 0 {
			w.cfg.Gate.Unused()
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("sweeping deferred messages failed", zap.Error(err))
		}
		for _, msg := range due {
			if w.cfg.Gate.Paused() && limit > 1 {
				// Paused during this batch: the rest of it comes due again
				// when its lease ends.
				break
			}
			if err := w.Process(ctx, msg); errors.Is(err, pause.ErrPaused) {
				continue // the gate has logged it
			} else if err != nil && ctx.Err() == nil {
				// The lease runs out and the message comes due again.
				w.log.Warn("deferred message not processed", zap.String("message_id", msg.ID), zap.Error(err))
			}
		}
		if len(due) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Reconcile settles messages whose provider call had no clear answer (a
// timeout, a 5xx, a process killed during the call). Once lookupAfter has
// passed with no callback, a text is looked up at the provider (when it
// is a provider.SMSFinder): found, it takes the provider's status; not
// found, it never reached the provider and goes back in the queue to be
// sent (the sweeper claims it, so once). What cannot be looked up (email,
// or the provider unreachable) ends failed after giveUpAfter, with the
// reason saying it may have been delivered.
func (w *Worker) Reconcile(ctx context.Context, lookupAfter, giveUpAfter, every time.Duration) {
	for {
		stale, err := w.store.Unsettled(ctx, w.cfg.Clock().Add(-lookupAfter), 200)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("reconciling unknown outcomes failed", zap.Error(err))
		}
		for _, msg := range stale {
			w.reconcile(ctx, msg, giveUpAfter)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (w *Worker) reconcile(ctx context.Context, msg store.Message, giveUpAfter time.Duration) {
	log := w.log.With(zap.String("message_id", msg.ID))
	if finder, ok := w.sms.(provider.SMSFinder); ok && msg.Channel == string(events.ChannelSMS) {
		log := log.With(zap.String("provider", w.cfg.Provider))
		// A minute of slack for clocks; the body and number pick it out.
		f, found, err := finder.Find(ctx, msg.To, msg.Body, msg.CreatedAt.Add(-time.Minute))
		switch {
		case err != nil:
			log.Warn("looking up a message of unknown outcome at the provider failed", zap.Error(err))
		case found:
			st := f.Status
			if st == "" {
				st = status.Accepted
			}
			if err := w.settle(ctx, msg.ID, store.Update{Status: st, ProviderID: f.ProviderID, ErrorCode: f.ErrorCode,
				ProviderStatus: f.ProviderStatus, Reason: "reconciled: " + w.cfg.Provider + " has it"}); err != nil && ctx.Err() == nil {
				log.Warn("settling a reconciled message failed", zap.Error(err))
			}
			return
		default:
			requeued, err := w.store.Requeue(ctx, msg.ID, "reconciled: "+w.cfg.Provider+" never received it")
			if err != nil && ctx.Err() == nil {
				log.Warn("requeueing a message the provider never received failed", zap.Error(err))
			}
			if requeued {
				log.Info("message of unknown outcome never reached the provider; sending it again")
			}
			return
		}
	}
	if w.cfg.Clock().Sub(msg.UpdatedAt) < giveUpAfter {
		return
	}
	log.Warn("outcome unknown past deadline; marking failed")
	if err := w.settle(ctx, msg.ID, store.Update{Status: status.Failed, ErrorCode: "unknown",
		Reason: "no provider answer or callback within " + giveUpAfter.String() + "; may have been delivered"}); err != nil && ctx.Err() == nil {
		log.Warn("settling unknown outcome failed", zap.Error(err))
	}
}
