// Package limit counts sign-in attempts in Redis, shared by every console
// replica, so guessing passwords is slow whichever replica answers.
package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter allows Max attempts per key in each Window (a fixed window
// starting at the key's first attempt).
type Limiter struct {
	rdb    *redis.Client
	prefix string
	max    int64
	window time.Duration
}

// New builds a limiter whose keys start with prefix.
func New(rdb *redis.Client, prefix string, max int, window time.Duration) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix + "console:signin:", max: int64(max), window: window}
}

// Allow counts one attempt against every key and reports whether all of
// them are still within the limit. Keys are hashed: emails and addresses
// do not sit in Redis in the clear.
func (l *Limiter) Allow(ctx context.Context, keys ...string) (bool, error) {
	pipe := l.rdb.TxPipeline()
	counts := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		sum := sha256.Sum256([]byte(k))
		key := l.prefix + hex.EncodeToString(sum[:16])
		counts[i] = pipe.Incr(ctx, key)
		pipe.ExpireNX(ctx, key, l.window)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("counting sign-in attempts: %w", err)
	}
	for _, c := range counts {
		if c.Val() > l.max {
			return false, nil
		}
	}
	return true, nil
}
