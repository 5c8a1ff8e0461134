// Package ratelimit keeps sends under the configured segments per second
// for each sender number, messaging service and provider account, however
// many delivery replicas run: the budgets live in Redis (GCRA through
// go-redis/redis_rate) and every replica draws from the same ones.
package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Bucket is one budget: a key and its rate in segments per second. A rate
// of 0 means unlimited.
type Bucket struct {
	Key       string
	PerSecond int
}

// Limiter takes segments from buckets, waiting for room.
type Limiter struct {
	rl     *redis_rate.Limiter
	prefix string
}

// New builds a limiter; prefix namespaces its keys (tests use their own).
func New(rdb *redis.Client, prefix string) *Limiter {
	return &Limiter{rl: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Wait takes segments from every bucket, one segment at a time with a
// burst of one, so no bucket ever runs above its rate in any one-second
// window. It returns how long it waited. A Redis failure is returned at
// once: no send without a rate-limit decision.
func (l *Limiter) Wait(ctx context.Context, buckets []Bucket, segments int) (time.Duration, error) {
	var waited time.Duration
	for range max(segments, 1) {
		for _, b := range buckets {
			if b.PerSecond <= 0 {
				continue
			}
			limit := redis_rate.Limit{Rate: b.PerSecond, Burst: 1, Period: time.Second}
			for {
				res, err := l.rl.Allow(ctx, l.prefix+b.Key, limit)
				if err != nil {
					return waited, fmt.Errorf("rate limit %s: %w", b.Key, err)
				}
				if res.Allowed > 0 {
					break
				}
				wait := res.RetryAfter
				if wait <= 0 {
					wait = time.Millisecond
				}
				select {
				case <-ctx.Done():
					return waited, ctx.Err()
				case <-time.After(wait):
				}
				waited += wait
			}
		}
	}
	return waited, nil
}
