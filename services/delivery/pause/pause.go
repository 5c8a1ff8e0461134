// Package pause holds a channel's sending while its provider refuses our
// credentials. A 401 or 403 is no fault of the message and no passing
// busy spell: every send would be refused the same way until an operator
// fixes the account. So the channel stops (the pipeline naks requests
// with the Gate's wait and claims nothing), says so once in the log and
// in two metrics, and lets one probe send through per back-off window;
// the first send the provider takes ends the pause. No message is failed
// or dropped on the way.
package pause

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/metrics"
)

// The probe back-off: the first probe comes soon (a key being rotated is
// fixed within seconds), later ones less often, and never more than a few
// minutes apart, so a fixed account sends again without a restart.
const (
	FirstProbe = 5 * time.Second
	MaxProbe   = 3 * time.Minute
)

// Gate is one channel's pause. The zero value is not usable; see New.
type Gate struct {
	channel, provider string
	metrics           *metrics.Metrics
	now               func() time.Time
	log               *zap.Logger

	mu     sync.Mutex
	paused bool
	// next is when the next probe may go; backoff is the wait after it.
	next    time.Time
	backoff time.Duration
	// probed is set when a probe was let through since the last refusal,
	// so refusals of sends already in flight when the pause began do not
	// stretch the back-off.
	probed bool
}

// New builds an open gate for a channel ("sms", "email") sending through
// provider ("twilio", "sendgrid"). m may be nil (a unit test): the gate
// then works without its metrics.
func New(channel, provider string, m *metrics.Metrics, now func() time.Time, log *zap.Logger) *Gate {
	if now == nil {
		now = time.Now
	}
	g := &Gate{channel: channel, provider: provider, metrics: m, now: now, log: log}
	g.setPaused(0)
	return g
}

func (g *Gate) setPaused(v float64) {
	if g.metrics != nil {
		g.metrics.Paused.WithLabelValues(g.channel).Set(v)
	}
}

// Allow says whether a send may go now. While paused it lets one send
// through per back-off window as the probe; every other caller gets how
// long to wait before asking again (at least a second, so a redelivered
// request never spins).
func (g *Gate) Allow() (bool, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		return true, 0
	}
	now := g.now()
	if !now.Before(g.next) {
		// The probe's window: whatever becomes of it (held by quiet
		// hours, a refusal), the next one comes after the back-off.
		g.probed = true
		g.next = now.Add(g.backoff)
		return true, 0
	}
	return false, max(g.next.Sub(now), time.Second)
}

// Unused gives back a probe window Allow granted but nobody used (the
// sweeper found nothing due), so a send waiting on the stream may probe.
func (g *Gate) Unused() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused && g.probed {
		g.probed = false
		g.next = g.now()
	}
}

// Paused reports whether the channel is paused.
func (g *Gate) Paused() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.paused
}

// Check is the gate as a readiness check: it fails while the channel is
// paused, so /readyz says delivery cannot send (see web's readiness for
// the probe that must keep routing webhooks all the same).
func (g *Gate) Check(context.Context) error {
	if g.Paused() {
		return fmt.Errorf("%s sending paused: %s refuses our credentials", g.channel, g.provider)
	}
	return nil
}

// Refused records a credential refusal and returns how long the refused
// request should wait before it is tried again. The first refusal pauses
// the channel and logs one error line; a refused probe doubles the wait.
func (g *Gate) Refused(code string, err error) time.Duration {
	if g.metrics != nil {
		g.metrics.AuthFailures.WithLabelValues(g.provider).Inc()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	switch {
	case !g.paused:
		g.paused, g.backoff, g.probed = true, FirstProbe, false
		g.next = now.Add(g.backoff)
		g.setPaused(1)
		g.log.Error("provider refused our credentials; sending paused until a probe succeeds",
			zap.String("channel", g.channel), zap.String("provider", g.provider), zap.String("code", code),
			zap.Duration("next_probe", g.backoff), zap.Error(err))
	case g.probed:
		g.probed = false
		g.backoff = min(g.backoff*2, MaxProbe)
		g.next = now.Add(g.backoff)
		g.log.Debug("probe refused; still paused", zap.String("channel", g.channel), zap.Duration("next_probe", g.backoff))
	}
	return max(g.next.Sub(now), time.Second)
}

// Accepted records that the provider took our credentials (a send went,
// or it was refused for a reason of the message's own): a pause ends.
func (g *Gate) Accepted() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.paused {
		return
	}
	g.paused, g.probed = false, false
	g.setPaused(0)
	g.log.Info("provider accepted our credentials again; sending resumed",
		zap.String("channel", g.channel), zap.String("provider", g.provider))
}

// ErrPaused is why a request waits while its channel is paused.
var ErrPaused = errors.New("sending paused: the provider refuses our credentials")
