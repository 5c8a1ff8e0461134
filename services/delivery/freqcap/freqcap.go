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
	if caps.PerDay <= 0 && caps.PerWeek <= 0 {
		return true, time.Time{}, nil
	}
	force := "0"
	if urgent {
		force = "1"
	}
	res, err := reserve.Run(ctx, c.rdb, []string{c.prefix + "cap:" + address},
		now.UnixMilli(), messageID, caps.PerDay, caps.PerWeek, force).Int64Slice()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("frequency cap: %w", err)
	}
	if res[0] == 1 {
		return true, time.Time{}, nil
	}
	return false, time.UnixMilli(res[1]), nil
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
