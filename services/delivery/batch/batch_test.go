package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBatcherGathersAndAnswersEach(t *testing.T) {
	var calls atomic.Int64
	b := New(func(_ context.Context, reqs []int) ([]int, error) {
		calls.Add(1)
		out := make([]int, len(reqs))
		for i, r := range reqs {
			out[i] = r * 10
		}
		return out, nil
	}, 50, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			got, err := b.Do(ctx, i)
			if err != nil || got != i*10 {
				t.Errorf("Do(%d) = %d, %v", i, got, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n < 2 || n > 20 {
		t.Fatalf("100 requests took %d batch calls; want them gathered (at most 50 a call)", n)
	}
}

func TestBatcherPassesErrorsToAll(t *testing.T) {
	boom := errors.New("database down")
	b := New(func(context.Context, []string) ([]string, error) { return nil, boom }, 10, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Run(ctx)
	if _, err := b.Do(ctx, "x"); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	short := New(func(context.Context, []string) ([]string, error) { return nil, nil }, 10, time.Millisecond)
	go short.Run(ctx)
	if _, err := short.Do(ctx, "x"); err == nil {
		t.Fatal("a short answer was not an error")
	}
}

func TestStoppedBatcherRefusesInsteadOfHanging(t *testing.T) {
	b := New(func(_ context.Context, reqs []int) ([]int, error) { return reqs, nil }, 10, time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	if got, err := b.Do(context.Background(), 7); err != nil || got != 7 {
		t.Fatalf("Do = %d, %v", got, err)
	}
	cancel()
	<-done
	if _, err := b.Do(context.Background(), 8); !errors.Is(err, ErrStopped) {
		t.Fatalf("Do after stop = %v, want ErrStopped", err)
	}
}
