package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/musterhq/muster/services/console/account"
)

// Slots bound how many long requests of one kind (CSV uploads, live result
// streams) one caller, and all callers together, may have open at once,
// whichever replica serves them. A slot is a lease in Redis that its
// holder renews while the request runs, so a replica that dies leaves its
// slots to run out rather than to leak.
type Slots struct {
	rdb       *redis.Client
	callerKey string // prefix; the caller's hash follows
	totalKey  string
	perCaller int
	total     int
	lease     time.Duration
	acquire   *redis.Script
	renew     *redis.Script
}

// NewSlots builds the slots of one kind ("upload", "stream").
func NewSlots(rdb *redis.Client, prefix, kind string, perCaller, total int, lease time.Duration) *Slots {
	base := prefix + "console:slots:" + kind + ":"
	return &Slots{rdb: rdb, callerKey: base + "caller:", totalKey: base + "total", perCaller: perCaller, total: total, lease: lease,
		acquire: redis.NewScript(acquireScript), renew: redis.NewScript(renewScript)}
}

// acquireScript takes a slot in both sets if each has room, on Redis's clock
// (one clock for every replica's leases): expired leases are dropped
// first. It returns 1 when taken, 0 when the caller is at its limit, -1
// when everyone together is.
const acquireScript = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
local until_ms = now + tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], until_ms, ARGV[1])
redis.call('ZADD', KEYS[2], until_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[4]))
return 1`

// renewScript pushes a held slot's lease on, if it is still held.
const renewScript = `
local t = redis.call('TIME')
local until_ms = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', until_ms, ARGV[1])
redis.call('ZADD', KEYS[2], 'XX', until_ms, ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]))
return 1`

// ErrCallerFull and ErrAllFull say why a slot was refused.
var (
	ErrCallerFull = errors.New("too many at once for this caller")
	ErrAllFull    = errors.New("too many at once for everyone together")
)

// Acquire takes a slot for caller (an organizer or token id, hashed in
// Redis) and keeps it renewed until release is called or ctx (the
// request's) ends; release is safe to call more than once. A full limit is
// ErrCallerFull or ErrAllFull.
func (s *Slots) Acquire(ctx context.Context, caller string) (release func(), err error) {
	sum := sha256.Sum256([]byte(caller))
	keys := []string{s.callerKey + hex.EncodeToString(sum[:12]), s.totalKey}
	id := account.NewSecret()
	got, err := s.acquire.Run(ctx, s.rdb, keys, id, s.perCaller, s.total, s.lease.Milliseconds()).Int()
	if err != nil {
		return nil, fmt.Errorf("taking a slot: %w", err)
	}
	switch got {
	case 0:
		return nil, ErrCallerFull
	case -1:
		return nil, ErrAllFull
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(s.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				// A failed renewal is retried at the next tick; the lease
				// has two more ticks to run.
				_ = s.renew.Run(context.Background(), s.rdb, keys, id, s.lease.Milliseconds()).Err()
			}
		}
	}()
	return func() {
		once.Do(func() {
			close(done)
			// Best effort: a slot not removed runs out with its lease.
			_ = s.rdb.ZRem(context.WithoutCancel(ctx), keys[0], id).Err()
			_ = s.rdb.ZRem(context.WithoutCancel(ctx), keys[1], id).Err()
		})
	}, nil
}
