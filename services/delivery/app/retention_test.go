package app_test

import (
	"context"
	"fmt"
	"github.com/musterhq/muster/shared/testkit"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/delivery/app"
)

// The purge runs beside sending: with 20,000 ended messages past their
// period and the purge running every few milliseconds in batches, new
// texts go out as ever, and the old bodies are gone by the end.
func TestPurgeRunsWhileSending(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.PurgeEvery = 20 * time.Millisecond }})
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, h.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	old := h.clock.Now().AddDate(0, 0, -200)
	if _, err := pool.Exec(ctx, `INSERT INTO messages (idempotency_key, campaign_id, contact_id, channel, to_addr, body, status, status_rank, created_at, updated_at)
		SELECT 'old-' || g, 'c-old', 'm-old', 'sms', '+1646' || lpad(g::text, 7, '0'), 'An old alert', 'delivered', 9, $1, $1
		FROM generate_series(1, 20000) g`, old); err != nil {
		t.Fatal(err)
	}
	h.start(nil)
	var keys []string
	for i := range 30 {
		keys = append(keys, h.send(phone(900+i), fmt.Sprintf("Rally at 5 (%d)", i)))
	}
	// (Read from the database: the harness's message list reads the first
	// 1,000 rows of the log, all old ones here.)
	testkit.Eventually(t, "the new texts delivered", func() bool {
		var delivered int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE idempotency_key = ANY($1) AND status = 'delivered'`, keys).Scan(&delivered); err != nil {
			t.Fatal(err)
		}
		return delivered == len(keys)
	})
	testkit.Eventually(t, "the old bodies purged", func() bool {
		var kept int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE campaign_id = 'c-old' AND body <> ''`).Scan(&kept); err != nil {
			t.Fatal(err)
		}
		return kept == 0
	})
	var fresh int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE campaign_id <> 'c-old' AND body <> ''`).Scan(&fresh); err != nil || fresh != len(keys) {
		t.Errorf("%d new texts keep their body (%v), want %d", fresh, err, len(keys))
	}
}
