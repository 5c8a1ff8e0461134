// Package schedule starts campaign steps when their time comes: a launch
// set for later, a meeting's reminders, notices. It reads time from an
// injected clock, so tests move time instead of waiting for it, and it
// leaves the sending to the fan-out, which it wakes.
package schedule

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/store"
)

// Waker is told when steps were started; the fan-out runner is one.
type Waker interface{ Wake() }

// Scheduler starts due steps.
type Scheduler struct {
	store *store.Store
	clock func() time.Time
	poll  time.Duration
	fan   Waker
	log   *zap.Logger
	kick  chan struct{}
}

// New builds a scheduler that looks for due steps every poll.
func New(st *store.Store, clock func() time.Time, poll time.Duration, fan Waker, log *zap.Logger) *Scheduler {
	if clock == nil {
		clock = time.Now
	}
	if poll <= 0 {
		poll = time.Second
	}
	return &Scheduler{store: st, clock: clock, poll: poll, fan: fan, log: log, kick: make(chan struct{}, 1)}
}

// Wake asks for a look now (a step was added, the clock was moved).
func (s *Scheduler) Wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// batch bounds the steps started in one transaction.
const batch = 100

// Tick starts every step due at the clock's now and returns how many.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.store.StartDue(ctx, s.clock(), batch)
		total += n
		if err != nil {
			return total, err
		}
		if total > 0 {
			s.fan.Wake()
		}
		if n < batch {
			return total, nil
		}
	}
}

// Run ticks until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	for {
		if n, err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("starting due steps failed", zap.Error(err))
		} else if n > 0 {
			s.log.Info("steps started", zap.Int("steps", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-time.After(s.poll):
		}
	}
}
