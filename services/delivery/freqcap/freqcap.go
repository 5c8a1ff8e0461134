// Package freqcap keeps each member's texts under a per-day and per-week
// cap across all campaigns, counted in Redis over sliding windows so every
// delivery replica sees the same count. Members are overworked; the cap is
// how the platform respects their time.
package freqcap

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Caps are the limits; zero means no limit.
type Caps struct {
	PerDay  int
	PerWeek int
}

// Counter reserves and releases sends against caps.
type Counter struct {
	rdb    *redis.Client
	prefix string
}

// New builds a counter; prefix namespaces its keys.
func New(rdb *redis.Client, prefix string) *Counter {
	return &Counter{rdb: rdb, prefix: prefix}
}

// reserve drops entries older than a week, counts the rest, and adds the
// message when under both caps. A message already counted is allowed
// again (redelivery). It returns {1, 0} when allowed, or {0, ms} with the
// time in unix ms at which a slot frees up.
var reserve = redis.NewScript(`
local key = KEYS[1]
local now = tonumber(ARGV[1])
local member = ARGV[2]
local capDay = tonumber(ARGV[3])
local capWeek = tonumber(ARGV[4])
local force = ARGV[5] == "1"
local dayMs, weekMs = 86400000, 604800000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - weekMs)
if redis.call('ZSCORE', key, member) then return {1, 0} end
if not force then
  if capDay > 0 then
    local inDay = redis.call('ZRANGEBYSCORE', key, now - dayMs, '+inf', 'WITHSCORES')
    if #inDay / 2 >= capDay then
      return {0, tonumber(inDay[#inDay - 2 * capDay + 2]) + dayMs}
    end
  end
  if capWeek > 0 then
    local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    if #all / 2 >= capWeek then
      return {0, tonumber(all[#all - 2 * capWeek + 2]) + weekMs}
    end
  end
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, weekMs)
return {1, 0}
`)

// Reserve counts message id against address's caps at now (the
// organization's current caps; with none, Redis is not asked). When over a
// cap it returns false and the time a slot frees up. Urgent alerts are
// counted but never held back.
func (c *Counter) Reserve(ctx context.Context, address, messageID string, now time.Time, urgent bool, caps Caps) (bool, time.Time, error) {
	res, err := c.ReserveMany(ctx, []Reservation{{Address: address, MessageID: messageID, Now: now, Urgent: urgent, Caps: caps}})
	if err != nil {
		return false, time.Time{}, err
	}
	return res[0].OK, res[0].Free, nil
}

// Reservation is one message to count against its member's caps, for
// ReserveMany.
type Reservation struct {
	Address, MessageID string
	Now                time.Time
	Urgent             bool
	Caps               Caps
}

// Reserved answers a Reservation: counted, or held until Free.
type Reserved struct {
	OK   bool
	Free time.Time
}

// ReserveMany is Reserve for many messages in one round trip to Redis
// (a pipeline of the same script, run in order): the send path's
// workers reserve together instead of a round trip per text. Any Redis
// failure is returned for them all; a message counted before the failure
// is allowed again when it comes back (the script counts a message once).
func (c *Counter) ReserveMany(ctx context.Context, rs []Reservation) ([]Reserved, error) {
	out := make([]Reserved, len(rs))
	cmds := make([]*redis.Cmd, len(rs))
	pipe := c.rdb.Pipeline()
	for i, r := range rs {
		if r.Caps.PerDay <= 0 && r.Caps.PerWeek <= 0 {
			out[i].OK = true
			continue
		}
		cmds[i] = reserve.EvalSha(ctx, pipe, r.keys(c.prefix), r.args()...)
	}
	if pipe.Len() == 0 {
		return out, nil
	}
	_, _ = pipe.Exec(ctx) // each command's own error is read below
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		res, err := cmd.Int64Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// A Redis that has not seen the script yet (new, restarted):
			// Run loads it.
			res, err = reserve.Run(ctx, c.rdb, rs[i].keys(c.prefix), rs[i].args()...).Int64Slice()
		}
		if err != nil {
			return nil, fmt.Errorf("frequency cap: %w", err)
		}
		out[i] = Reserved{OK: res[0] == 1}
		if !out[i].OK {
			out[i].Free = time.UnixMilli(res[1])
		}
	}
	return out, nil
}

func (r Reservation) keys(prefix string) []string { return []string{prefix + "cap:" + r.Address} }

func (r Reservation) args() []any {
	force := "0"
	if r.Urgent {
		force = "1"
	}
	return []any{r.Now.UnixMilli(), r.MessageID, r.Caps.PerDay, r.Caps.PerWeek, force}
}

// Release uncounts a message that was not sent after all (it was
// suppressed, or the provider refused it), so it does not use the
// member's quota.
func (c *Counter) Release(ctx context.Context, address, messageID string) error {
	if err := c.rdb.ZRem(ctx, c.prefix+"cap:"+address, messageID).Err(); err != nil {
		return fmt.Errorf("releasing frequency cap: %w", err)
	}
	return nil
}
