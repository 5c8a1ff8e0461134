// Package results keeps each campaign's numbers live from delivery's
// status events. Counts are derived from per-message rows, so a
// redelivered event can never count twice, and a late report can never
// move a message back. A Hub tells live streams when a campaign's numbers
// may have changed.
package results

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// IsCampaignID reports whether id can be one of ours (events about
// messages that belong to no campaign carry other ids).
func IsCampaignID(id string) bool { return events.IsID(id) }

// StepOf reads the step from a campaign message's idempotency key
// (c.<campaign>.s<step>.<contact>.<channel>); false for the keys of
// auto-replies, inbox answers and test sends, which are not counted.
func StepOf(key, campaignID string) (int, bool) {
	rest, ok := strings.CutPrefix(key, "c."+campaignID+".s")
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, ".")
	if !ok || digits == "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, false
	}
	return n, true
}

// Notifier is told which campaign's numbers changed.
type Notifier interface{ Notify(campaignID string) }

// Status is the handler for one status event.
func Status(st *store.Store, hub Notifier) func(ctx context.Context, ev events.StatusChanged) error {
	statuses := Statuses(st, hub)
	return func(ctx context.Context, ev events.StatusChanged) error {
		return statuses(ctx, events.StatusesChanged{Meta: ev.Meta, Changes: []events.StatusChange{ev.StatusChange}})
	}
}

// Statuses is the handler for an event of many status changes: the ones
// results count are recorded in one statement.
func Statuses(st *store.Store, hub Notifier) func(ctx context.Context, ev events.StatusesChanged) error {
	return func(ctx context.Context, ev events.StatusesChanged) error {
		var counted []store.MessageStatus
		for _, c := range ev.Changes {
			r, ok := events.StatusRank(c.Status)
			if !ok || !IsCampaignID(c.CampaignID) {
				continue // not one of ours, or a status we do not count
			}
			step, ok := StepOf(c.IdempotencyKey, c.CampaignID)
			if !ok {
				continue // an auto-reply, inbox answer or test send
			}
			counted = append(counted, store.MessageStatus{StatusChange: c, Step: step, Rank: r})
		}
		if len(counted) == 0 {
			return nil
		}
		if err := st.RecordStatuses(ctx, counted); err != nil {
			return stream.Retry(err, time.Second)
		}
		notified := map[string]bool{}
		for _, c := range counted {
			if !notified[c.CampaignID] {
				notified[c.CampaignID] = true
				hub.Notify(c.CampaignID)
			}
		}
		return nil
	}
}

// Hub fans change notices out to live result streams in this process.
// A notice is only a hint to recount: streams also recount on a timer,
// which covers changes recorded by other replicas.
type Hub struct {
	mu     sync.Mutex
	subs   map[string]map[chan struct{}]struct{}
	closed chan struct{}
	once   sync.Once
}

// NewHub makes an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[string]map[chan struct{}]struct{}{}, closed: make(chan struct{})}
}

// Notify tells every stream of the campaign; it never blocks.
func (h *Hub) Notify(campaignID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[campaignID] {
		select {
		case ch <- struct{}{}:
		default: // a notice is already waiting
		}
	}
}

// Subscribe returns a channel of notices for a campaign and a function to
// stop them.
func (h *Hub) Subscribe(campaignID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs[campaignID] == nil {
		h.subs[campaignID] = map[chan struct{}]struct{}{}
	}
	h.subs[campaignID][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[campaignID], ch)
		if len(h.subs[campaignID]) == 0 {
			delete(h.subs, campaignID)
		}
		h.mu.Unlock()
	}
}

// Close ends every stream (the service is stopping), so HTTP shutdown does
// not wait on them.
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// Done is closed when the hub is.
func (h *Hub) Done() <-chan struct{} { return h.closed }
