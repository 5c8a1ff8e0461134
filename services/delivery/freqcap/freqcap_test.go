package freqcap

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/musterhq/muster/shared/testkit"
)

func TestCaps(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	c := New(rdb, prefix)
	caps := Caps{PerDay: 3, PerWeek: 5}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	reserve := func(id string, at time.Time, urgent bool) (bool, time.Time) {
		t.Helper()
		ok, free, err := c.Reserve(ctx, "+12125550101", id, at, urgent, caps)
		if err != nil {
			t.Fatal(err)
		}
		return ok, free
	}
	for i, id := range []string{"m1", "m2", "m3"} {
		if ok, _ := reserve(id, t0.Add(time.Duration(i)*time.Hour), false); !ok {
			t.Fatalf("%s refused under the cap", id)
		}
	}
	ok, free := reserve("m4", t0.Add(3*time.Hour), false)
	if ok || !free.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("4th in a day: ok=%v free=%s, want refused until %s", ok, free, t0.Add(24*time.Hour))
	}
	if ok, _ := reserve("m2", t0.Add(3*time.Hour), false); !ok {
		t.Fatal("a redelivered message that was already counted was refused")
	}
	if ok, _ := reserve("urgent", t0.Add(3*time.Hour), true); !ok {
		t.Fatal("an urgent alert was held back by the cap")
	}
	// A message that was not sent after all gives its slot back.
	if err := c.Release(ctx, "+12125550101", "urgent"); err != nil {
		t.Fatal(err)
	}
	if err := c.Release(ctx, "+12125550101", "m3"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reserve("m5", t0.Add(4*time.Hour), false); !ok {
		t.Fatal("released slot not reusable")
	}
	// Next day: the day window has moved on, the week cap (5) has not.
	day2 := t0.Add(29 * time.Hour)
	if ok, _ := reserve("m6", day2, false); !ok {
		t.Fatal("refused on a new day")
	}
	if ok, _ := reserve("m7", day2.Add(time.Minute), false); !ok {
		t.Fatal("refused under both caps")
	}
	// m1, m2, m5, m6, m7 = 5 in the week.
	ok, free = reserve("m8", day2.Add(2*time.Minute), false)
	if ok || !free.Equal(t0.Add(7*24*time.Hour)) {
		t.Fatalf("6th in a week: ok=%v free=%s, want refused until a week after m1", ok, free)
	}
	// Another member is counted apart.
	if ok, _, _ := c.Reserve(ctx, "+12125550102", "m1", t0, false, caps); !ok {
		t.Fatal("caps leaked between members")
	}
}

func TestNoCapsNeverTouchesRedis(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	c := New(rdb, prefix)
	_ = rdb.Close()
	ok, _, err := c.Reserve(context.Background(), "+1", "m", time.Now(), false, Caps{})
	if !ok || err != nil {
		t.Fatalf("uncapped Reserve = %v, %v", ok, err)
	}
}

// Many reservations in one round trip are counted in order, as the same
// calls one by one would be: the member's third text in the batch is the
// one held, an uncapped one is allowed, and a Redis that has never seen
// the script (a private, fresh one) loads it rather than failing.
func TestReserveManyInOrder(t *testing.T) {
	srv := testkit.PrivateRedis(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	c := New(rdb, "test:")
	t0 := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	caps := Caps{PerDay: 2}
	res, err := c.ReserveMany(context.Background(), []Reservation{
		{Address: "+12125550101", MessageID: "m1", Now: t0, Caps: caps},
		{Address: "+12125550101", MessageID: "m2", Now: t0.Add(time.Minute), Caps: caps},
		{Address: "+12125550101", MessageID: "m3", Now: t0.Add(2 * time.Minute), Caps: caps},
		{Address: "+12125550102", MessageID: "m1", Now: t0, Caps: caps},
		{Address: "+12125550101", MessageID: "m4", Now: t0, Caps: Caps{}},
		{Address: "+12125550101", MessageID: "m1", Now: t0.Add(3 * time.Minute), Caps: caps},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Reserved{{OK: true}, {OK: true}, {Free: t0.Add(24 * time.Hour)}, {OK: true}, {OK: true}, {OK: true}}
	for i := range want {
		if res[i].OK != want[i].OK || !res[i].Free.Equal(want[i].Free) {
			t.Errorf("reservation %d = %+v, want %+v", i, res[i], want[i])
		}
	}
	_ = rdb.Close()
	if _, err := c.ReserveMany(context.Background(), []Reservation{{Address: "+1", MessageID: "m", Now: t0, Caps: caps}}); err == nil {
		t.Fatal("a closed Redis gave a frequency-cap decision")
	}
}
