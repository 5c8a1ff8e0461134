package ratelimit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/testkit"
)

// Three workers share one 20-per-second bucket. Redis decides every
// grant, so however the workers interleave, the grants in a span of time
// can never exceed rate × span + the burst of one.
func TestWorkersShareOneBudget(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	l := New(rdb, prefix)
	buckets := []Bucket{{Key: "sender:+15550001111", PerSecond: 20}, {Key: "account:AC1", PerSecond: 0}}
	var granted atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := l.Wait(ctx, buckets, 1); err != nil {
					return
				}
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	if max := int64(20*elapsed) + 1; granted.Load() > max {
		t.Fatalf("%d grants in %.2fs, over the %d a 20/s budget allows", granted.Load(), elapsed, max)
	}
	if granted.Load() < 10 {
		t.Fatalf("only %d grants in %.2fs: the limiter starves senders", granted.Load(), elapsed)
	}
}

func TestMultiSegmentTakesEachSegment(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	l := New(rdb, prefix)
	b := []Bucket{{Key: "sender:x", PerSecond: 50}}
	waited, err := l.Wait(context.Background(), b, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Three segments at 50/s: the second and third wait 20ms each.
	if waited < 30*time.Millisecond {
		t.Fatalf("three segments waited only %s", waited)
	}
}

func TestRedisDownIsAnError(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	l := New(rdb, prefix)
	_ = rdb.Close()
	if _, err := l.Wait(context.Background(), []Bucket{{Key: "k", PerSecond: 1}}, 1); err == nil {
		t.Fatal("a closed Redis gave a rate-limit decision")
	}
}
