package limit_test

import (
	"context"
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
