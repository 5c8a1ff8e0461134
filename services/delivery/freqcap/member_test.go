package freqcap

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/testkit"
)

// LESS is one text in any 7 days, counted apart from the organization's
// cap, and released when the text did not go out.
func TestReserveInLess(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	c := New(rdb, prefix)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	week := Caps{PerWeek: 1}
	const member = "+12125550101"
	if ok, _, err := c.ReserveIn(ctx, BucketLess, member, "m1", t0, week); err != nil || !ok {
		t.Fatalf("first text of the week refused: %v", err)
	}
	// The organization's cap does not see it, and it does not see the cap.
	if ok, _, _ := c.Reserve(ctx, member, "m2", t0, false, Caps{PerDay: 1}); !ok {
		t.Fatal("the organization's cap counted a LESS reservation")
	}
	ok, free, err := c.ReserveIn(ctx, BucketLess, member, "m2", t0.Add(time.Hour), week)
	if err != nil || ok || !free.Equal(t0.Add(7*24*time.Hour)) {
		t.Fatalf("second text in a week: ok=%v free=%s (%v), want held until %s", ok, free, err, t0.Add(7*24*time.Hour))
	}
	if ok, _, _ := c.ReserveIn(ctx, BucketLess, member, "m1", t0.Add(time.Hour), week); !ok {
		t.Fatal("a redelivered text already counted was refused")
	}
	if err := c.ReleaseIn(ctx, BucketLess, member, "m1"); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := c.ReserveIn(ctx, BucketLess, member, "m2", t0.Add(time.Hour), week); !ok {
		t.Fatal("a released slot was not given back")
	}
}
