// Package publishtest records what delivery's pipelines announce, for
// tests that check a message's statuses only ever move forward.
package publishtest

import (
	"context"
	"sync"

	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
)

// Recorder keeps every status announced, per message, in order. The zero
// Recorder is ready to use.
type Recorder struct {
	mu sync.Mutex
	by map[string][]status.Status
}

// Status records one message's announced status.
func (r *Recorder) Status(_ context.Context, m store.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[string][]status.Status{}
	}
	r.by[m.ID] = append(r.by[m.ID], m.Status)
}

// Statuses records several messages' statuses, as if announced one by one.
func (r *Recorder) Statuses(ctx context.Context, ms []store.Message) {
	for _, m := range ms {
		r.Status(ctx, m)
	}
}

// Of is what was announced for message id, in order.
func (r *Recorder) Of(id string) []status.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]status.Status(nil), r.by[id]...)
}
