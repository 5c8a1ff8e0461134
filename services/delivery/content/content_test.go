package content

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/musterhq/muster/shared/events"
)

type mapSource struct {
	mu    sync.Mutex
	data  map[string][]byte
	calls atomic.Int32
}

func (m *mapSource) Fetch(_ context.Context, ref string) ([]byte, error) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.data[ref]
	if !ok {
		return nil, ErrMissing
	}
	return d, nil
}

func TestReaderChecksCachesAndWaits(t *testing.T) {
	c := events.Content{Subject: "Hi " + events.MergeTag(0, false), Text: "x", Merge: []string{"first_name"}}
	ref, data, err := c.Ref()
	if err != nil {
		t.Fatal(err)
	}
	src := &mapSource{data: map[string][]byte{}}
	r := NewReader(src, 2)
	ctx := context.Background()

	// Not stored yet: ErrMissing, and not cached as missing.
	if _, err := r.Get(ctx, ref); !errors.Is(err, ErrMissing) {
		t.Fatalf("missing content: %v", err)
	}
	src.mu.Lock()
	src.data[ref] = data
	src.mu.Unlock()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			got, err := r.Get(ctx, ref)
			if err != nil || got.Subject != c.Subject || len(got.Merge) != 1 {
				t.Errorf("get = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
	if n := src.calls.Load(); n != 2 {
		t.Errorf("%d fetches for one content read 50 times", n)
	}

	// Content that is not what its ref names is refused.
	other := events.Content{Subject: "Other", Text: "y"}
	otherRef, _, _ := other.Ref()
	src.mu.Lock()
	src.data[otherRef] = data
	src.mu.Unlock()
	if _, err := r.Get(ctx, otherRef); err == nil {
		t.Fatal("content under the wrong ref was read")
	}
	if _, err := r.Get(ctx, "sha256:nothex"); err == nil {
		t.Fatal("a malformed ref was read")
	}
}
