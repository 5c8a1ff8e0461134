package freqcap

import (
	"context"
	"fmt"
	"time"
)

// Buckets the member's own limits are counted in, apart from the
// organization's cap: a text counts once in each that applies to it.
const (
	// BucketLess is a member's "at most one text a week" (LESS).
	BucketLess = "less"
	// BucketState is their state's limit on messages in 24 hours.
	BucketState = "state"
)

// ReserveIn counts message id against address's count in bucket, the
// same sliding windows as Reserve, never bypassed: LESS and a state's
// limit hold for urgent alerts too. When over caps it returns false and
// the time a slot frees up.
func (c *Counter) ReserveIn(ctx context.Context, bucket, address, messageID string, now time.Time, caps Caps) (bool, time.Time, error) {
	if caps.PerDay <= 0 && caps.PerWeek <= 0 {
		return true, time.Time{}, nil
	}
	res, err := reserve.Run(ctx, c.rdb, []string{c.prefix + bucket + ":" + address},
		now.UnixMilli(), messageID, caps.PerDay, caps.PerWeek, "0").Int64Slice()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("%s limit: %w", bucket, err)
	}
	if res[0] == 1 {
		return true, time.Time{}, nil
	}
	return false, time.UnixMilli(res[1]), nil
}

// ReleaseIn uncounts a message from bucket (a text that did not go out);
// releasing one that was never counted does nothing.
func (c *Counter) ReleaseIn(ctx context.Context, bucket, address, messageID string) error {
	if err := c.rdb.ZRem(ctx, c.prefix+bucket+":"+address, messageID).Err(); err != nil {
		return fmt.Errorf("releasing %s limit: %w", bucket, err)
	}
	return nil
}
