// Package content reads campaign steps' stored email content (events.Content)
// by its ref, for the email pipeline: from the CONTENT stream by subject,
// checked against its hash, and kept in a small cache, since every member
// of a step names the same one.
package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
)

// ErrMissing means no content is stored under the ref yet: the request
// naming it waits (is redelivered) rather than being dropped.
var ErrMissing = errors.New("email content not stored")

// Source fetches content in its wire form by ref; ErrMissing when none is
// stored. The CONTENT stream is one (Stream); tests may use others.
type Source interface {
	Fetch(ctx context.Context, ref string) ([]byte, error)
}

// Reader reads content through a Source, checks it and caches it.
type Reader struct {
	src Source
	max int

	mu      sync.Mutex
	entries map[string]*entry
	order   []string // refs in the order they were cached, for eviction
}

type entry struct {
	done chan struct{}
	c    *events.Content
	err  error
}

// NewReader caches up to max contents (256 when max <= 0): a step's
// languages times the steps sending at once.
func NewReader(src Source, max int) *Reader {
	if max <= 0 {
		max = 256
	}
	return &Reader{src: src, max: max, entries: map[string]*entry{}}
}

// Get returns the content stored under ref. Callers asking at once for a
// ref not yet cached share one fetch. A failed fetch is not cached.
func (r *Reader) Get(ctx context.Context, ref string) (*events.Content, error) {
	if !events.ValidRef(ref) {
		return nil, fmt.Errorf("content ref %q is not sha256:<hex>", ref)
	}
	r.mu.Lock()
	e, ok := r.entries[ref]
	if !ok {
		e = &entry{done: make(chan struct{})}
		r.entries[ref] = e
	}
	r.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.c, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e.c, e.err = r.fetch(ctx, ref)
	r.mu.Lock()
	if e.err != nil {
		delete(r.entries, ref)
	} else {
		r.order = append(r.order, ref)
		for len(r.order) > r.max {
			delete(r.entries, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.mu.Unlock()
	close(e.done)
	return e.c, e.err
}

func (r *Reader) fetch(ctx context.Context, ref string) (*events.Content, error) {
	data, err := r.src.Fetch(ctx, ref)
	if err != nil {
		return nil, err
	}
	// Content is immutable and named by its hash: what is read must be
	// what was named, or the member would not get what was requested.
	if got := events.RefOf(data); got != ref {
		return nil, fmt.Errorf("content stored under %s hashes to %s", ref, got)
	}
	var c events.Content
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decoding content %s: %w", ref, err)
	}
	return &c, nil
}

// Stream is the CONTENT stream as a Source, read by direct get.
type Stream struct {
	js jetstream.JetStream

	mu sync.Mutex
	s  jetstream.Stream
}

// NewStream reads content from the CONTENT stream through js.
func NewStream(js jetstream.JetStream) *Stream { return &Stream{js: js} }

// Fetch implements Source.
func (s *Stream) Fetch(ctx context.Context, ref string) ([]byte, error) {
	s.mu.Lock()
	st := s.s
	s.mu.Unlock()
	if st == nil {
		var err error
		if st, err = s.js.Stream(ctx, events.StreamContent); err != nil {
			return nil, fmt.Errorf("opening %s: %w", events.StreamContent, err)
		}
		s.mu.Lock()
		s.s = st
		s.mu.Unlock()
	}
	m, err := st.GetLastMsgForSubject(ctx, events.ContentSubject(ref))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrMissing, ref)
	}
	if err != nil {
		return nil, fmt.Errorf("reading content %s: %w", ref, err)
	}
	return m.Data, nil
}
