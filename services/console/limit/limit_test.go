package limit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/musterhq/muster/services/console/limit"
	"github.com/musterhq/muster/shared/testkit"
)

func TestLimiterCountsEveryKeyOnRealRedis(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	l := limit.New(rdb, prefix, 3, time.Minute)
	ctx := context.Background()
	for i := range 3 {
		if ok, err := l.Allow(ctx, "email:a@x.org", "ip:10.0.0.1"); err != nil || !ok {
			t.Fatalf("attempt %d refused: %v", i+1, err)
		}
	}
	if ok, _ := l.Allow(ctx, "email:a@x.org", "ip:10.0.0.2"); ok {
		t.Fatal("fourth attempt on one email allowed")
	}
	// Another email from a fresh address is untouched.
	if ok, _ := l.Allow(ctx, "email:b@x.org", "ip:10.0.0.3"); !ok {
		t.Fatal("another email was refused")
	}
}

func TestSlotsBoundEachCallerAndEveryoneOnRealRedis(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	s := limit.NewSlots(rdb, prefix, "upload", 2, 3, time.Minute)
	ctx := context.Background()
	a1, err := s.Acquire(ctx, "organizer a")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := s.Acquire(ctx, "organizer a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "organizer a"); !errors.Is(err, limit.ErrCallerFull) {
		t.Fatalf("a third for one caller = %v, want ErrCallerFull", err)
	}
	b1, err := s.Acquire(ctx, "organizer b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctx, "organizer c"); !errors.Is(err, limit.ErrAllFull) {
		t.Fatalf("a fourth in all = %v, want ErrAllFull", err)
	}
	a1()
	a1() // releasing twice is harmless
	if _, err := s.Acquire(ctx, "organizer c"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	a2()
	b1()
}

// A replica that dies holding a slot stops renewing it, and the slot runs
// out with its lease; while renewed, it outlives the lease.
func TestSlotsOfADeadHolderRunOut(t *testing.T) {
	rdb, prefix := testkit.Redis(t)
	const lease = time.Second
	s := limit.NewSlots(rdb, prefix, "stream", 1, 10, lease)
	alive, err := s.Acquire(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * lease)
	if _, err := s.Acquire(context.Background(), "x"); !errors.Is(err, limit.ErrCallerFull) {
		t.Fatalf("a renewed slot after two leases = %v, want still held", err)
	}
	alive()
	dying, cancel := context.WithCancel(context.Background())
	if _, err := s.Acquire(dying, "y"); err != nil {
		t.Fatal(err)
	}
	cancel() // the holder is gone: no renewal, no release
	time.Sleep(2 * lease)
	if _, err := s.Acquire(context.Background(), "y"); err != nil {
		t.Fatalf("a dead holder's slot after two leases = %v, want free", err)
	}
}
