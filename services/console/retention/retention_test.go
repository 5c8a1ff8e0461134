package retention_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/console/migrations"
	"github.com/musterhq/muster/services/console/retention"
	"github.com/musterhq/muster/shared/testkit"
)

// TestOldAuditEntriesAndTokensArePurged: audit entries older than the
// retention go (more than one batch), newer stay; a token expired long
// ago and one revoked long ago go, one expired lately and a live one
// stay.
func TestOldAuditEntriesAndTokensArePurged(t *testing.T) {
	ctx := context.Background()
	pool := testkit.Pool(t, migrations.FS)
	clock := testkit.NewClock(t)
	now := clock.Now()
	day := 24 * time.Hour
	for i, at := range []time.Time{now.Add(-800 * day), now.Add(-750 * day), now.Add(-740 * day), now.Add(-100 * day), now} {
		if _, err := pool.Exec(ctx, `INSERT INTO audit_log (at, actor_id, actor, action) VALUES ($1, 'a', 'Admin', $2)`, at, "act"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	tok := func(name string, expires, revoked *time.Time) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO api_tokens (name, token_hash, role, expires_at, revoked_at, created_at) VALUES ($1, $2, 'viewer', $3, $4, $5)`,
			name, []byte(name), expires, revoked, now.Add(-400*day)); err != nil {
			t.Fatal(err)
		}
	}
	longAgo, lately, later := now.Add(-100*day), now.Add(-10*day), now.Add(10*day)
	tok("expired-long-ago", &longAgo, nil)
	tok("revoked-long-ago", &later, &longAgo)
	tok("expired-lately", &lately, nil)
	tok("live", &later, nil)

	p := retention.New(pool, retention.Policy{Audit: 730 * day, Tokens: 90 * day}, clock.Now, nil, zaptest.NewLogger(t)).WithBatch(2)
	done, err := p.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if done["audit_entries"] != 3 || done["api_tokens"] != 2 {
		t.Fatalf("purged %v, want 3 audit entries and 2 tokens", done)
	}
	var entries, tokens int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM api_tokens WHERE name IN ('expired-lately', 'live'))`).Scan(&entries, &tokens); err != nil {
		t.Fatal(err)
	}
	if entries != 2 || tokens != 2 {
		t.Fatalf("kept %d audit entries and %d of the newer tokens, want 2 and 2", entries, tokens)
	}
}
