// Package batch turns many concurrent single calls into a few batched
// ones: callers wait a moment for company, then one function call serves
// them all. Delivery uses it to write many messages' records and outcomes
// in one statement, so PostgreSQL commits per batch rather than per text.
package batch

import (
	"context"
	"errors"
	"time"
)

// Func serves a batch; it returns one result per request, in order, or
// an error for all of them.
type Func[Req, Res any] func(ctx context.Context, reqs []Req) ([]Res, error)

// Batcher gathers requests.
type Batcher[Req, Res any] struct {
	fn      Func[Req, Res]
	max     int
	linger  time.Duration
	in      chan call[Req, Res]
	stopped chan struct{}
}

type call[Req, Res any] struct {
	req  Req
	done chan result[Res]
}

type result[Res any] struct {
	res Res
	err error
}

// New builds a batcher that serves up to max requests per call, waiting
// at most linger after the first for more. Run must be running.
func New[Req, Res any](fn Func[Req, Res], max int, linger time.Duration) *Batcher[Req, Res] {
	return &Batcher[Req, Res]{fn: fn, max: max, linger: linger, in: make(chan call[Req, Res], max), stopped: make(chan struct{})}
}

// ErrStopped answers a request the batcher stopped before serving: it was
// not acted on.
var ErrStopped = errors.New("batcher stopped")

// Do adds a request to the next batch and returns its result.
func (b *Batcher[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	c := call[Req, Res]{req: req, done: make(chan result[Res], 1)}
	var zero Res
	select {
	case b.in <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-b.stopped:
		return zero, ErrStopped
	}
	// Once handed over the request is served unless the batcher has
	// stopped; wait for the answer even if ctx ends, so the caller never
	// acts on a half-known outcome.
	select {
	case r := <-c.done:
		return r.res, r.err
	case <-b.stopped:
		select {
		case r := <-c.done: // served in the final drain
			return r.res, r.err
		default:
			return zero, ErrStopped
		}
	}
}

// Run serves batches until ctx ends. Batches run one at a time: a
// replica's writes stay in order and the database sees few, large
// statements.
func (b *Batcher[Req, Res]) Run(ctx context.Context) {
	defer close(b.stopped)
	for {
		var calls []call[Req, Res]
		select {
		case <-ctx.Done():
			b.drain(context.WithoutCancel(ctx))
			return
		case c := <-b.in:
			calls = append(calls, c)
		}
		timer := time.NewTimer(b.linger)
	gather:
		for len(calls) < b.max {
			select {
			case c := <-b.in:
				calls = append(calls, c)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		b.serve(context.WithoutCancel(ctx), calls)
	}
}

// drain serves what was handed over before the stop.
func (b *Batcher[Req, Res]) drain(ctx context.Context) {
	for {
		var calls []call[Req, Res]
	gather:
		for len(calls) < b.max {
			select {
			case c := <-b.in:
				calls = append(calls, c)
			default:
				break gather
			}
		}
		if len(calls) == 0 {
			return
		}
		b.serve(ctx, calls)
	}
}

func (b *Batcher[Req, Res]) serve(ctx context.Context, calls []call[Req, Res]) {
	reqs := make([]Req, len(calls))
	for i, c := range calls {
		reqs[i] = c.req
	}
	res, err := b.fn(ctx, reqs)
	for i, c := range calls {
		if err != nil || i >= len(res) {
			if err == nil {
				err = errShort
			}
			c.done <- result[Res]{err: err}
			continue
		}
		c.done <- result[Res]{res: res[i]}
	}
}

type shortError struct{}

func (shortError) Error() string { return "batch function returned fewer results than requests" }

var errShort error = shortError{}
