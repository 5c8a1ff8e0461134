package retention_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/retention"
	"github.com/musterhq/muster/shared/testkit"
)

func TestStatementsReadNoDatabaseClock(t *testing.T) {
	testkit.NoDatabaseClock(t, ".")
}

// Rows older than their period go (or lose their body), rows younger
// stay, a text still waiting keeps what it will say however old, a
// period of zero keeps everything, and the work is done in batches.
func TestPurgeKeepsWhatIsYoungerAndWhatIsStillNeeded(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testkit.Database(t, migrations.FS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	old, young := now.AddDate(0, 0, -100), now.AddDate(0, 0, -10)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	message := func(key, status string, rank int, at time.Time) {
		exec(`INSERT INTO messages (idempotency_key, campaign_id, contact_id, channel, to_addr, body, status, status_rank, created_at, updated_at)
			VALUES ($1, 'c1', 'm1', 'sms', '+12125550101', 'Rally at 5', $2, $3, $4, $4)`, key, status, rank, at)
	}
	for _, k := range []string{"old-1", "old-2", "old-3"} {
		message(k, "delivered", 9, old)
	}
	message("young", "delivered", 9, young)
	message("old-waiting", "queued", 0, old)
	for i, at := range []time.Time{old, old, young} {
		exec(`INSERT INTO message_events (message_id, status, applied, received_at)
			SELECT id, 'delivered', true, $2 FROM messages WHERE idempotency_key = $1`, []string{"old-1", "old-2", "young"}[i], at)
		exec(`INSERT INTO inbound_messages (provider_id, channel, from_addr, to_addr, body, received_at) VALUES ($1, 'sms', '+12125550101', '+15550001111', 'Is there parking?', $2)`,
			[]string{"SM1", "SM2", "SM3"}[i], at)
		exec(`INSERT INTO dead_letters (event_id, consumer, subject, data, error, deliveries, created_at) VALUES ($1, 'delivery-send', 'delivery.send.sms', '{}', 'boom', 5, $2)`,
			[]string{"e1", "e2", "e3"}[i], at)
		exec(`INSERT INTO email_events (sg_event_id, event, received_at) VALUES ($1, 'delivered', $2)`, []string{"g1", "g2", "g3"}[i], at)
	}

	reg := prometheus.NewRegistry()
	days := func(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }
	p := retention.New(pool, retention.Policy{Bodies: days(90), Replies: days(90), StatusEvents: days(30), DeadLetters: days(30)},
		func() time.Time { return now }, reg, zaptest.NewLogger(t)).WithBatch(2)
	done, err := p.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"message_bodies": 3, "reply_bodies": 2, "status_events": 2, "dead_letters": 2}
	for k, v := range want {
		if done[k] != v {
			t.Errorf("purged %d %s, want %d (all: %v)", done[k], k, v, done)
		}
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return n
	}
	for sql, want := range map[string]int{
		`SELECT count(*) FROM messages WHERE body = ''`:                                      3,
		`SELECT count(*) FROM messages WHERE body <> '' AND idempotency_key = 'young'`:       1,
		`SELECT count(*) FROM messages WHERE body <> '' AND idempotency_key = 'old-waiting'`: 1,
		`SELECT count(*) FROM messages`:                                                      5, // rows stay: their keys stop a second send
		`SELECT count(*) FROM message_events`:                                                1,
		`SELECT count(*) FROM inbound_messages WHERE body <> ''`:                             1,
		`SELECT count(*) FROM inbound_messages`:                                              3,
		`SELECT count(*) FROM dead_letters`:                                                  1,
		`SELECT count(*) FROM email_events`:                                                  3, // no period: kept
	} {
		if got := count(sql); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`# HELP delivery_purged_rows_total Rows the retention purge deleted or blanked, by what they held.
# TYPE delivery_purged_rows_total counter
delivery_purged_rows_total{data="dead_letters"} 2
delivery_purged_rows_total{data="message_bodies"} 3
delivery_purged_rows_total{data="reply_bodies"} 2
delivery_purged_rows_total{data="status_events"} 2
`)); err != nil {
		t.Error(err)
	}

	// Again: nothing left to do.
	if done, err := p.Once(ctx); err != nil || total(done) != 0 {
		t.Errorf("a second purge did %v (%v), want nothing", done, err)
	}
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
