package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

// Status reports find their texts by id however the log has grown since
// the connection first ran them. A fresh database's first alert is where
// this broke: planned while the log held a few texts, the reports kept
// reading every text of the alert for each batch once it held 100,000.
func TestReportsFindTextsByIDAsTheLogGrows(t *testing.T) {
	ctx := context.Background()
	st, pool := oneConnection(t)
	reqs := make([]events.SendRequested, 10)
	for i := range reqs {
		reqs[i] = events.SendRequested{IdempotencyKey: fmt.Sprintf("k%d", i), CampaignID: "c1", ContactID: fmt.Sprintf("m%d", i),
			Channel: events.ChannelSMS, To: fmt.Sprintf("+1212555010%d", i), Body: "Vote Thursday"}
	}
	recorded, err := st.RecordAndClaimMany(ctx, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	report := func(key string, s status.Status) {
		t.Helper()
		if _, err := st.ApplyReports(ctx, []store.Outcome{{ID: recorded[key].ID, Update: store.Update{Status: s}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range reqs {
		report(reqs[i].IdempotencyKey, status.Accepted)
	}
	grow(ctx, t, pool)

	before := rowsRead(ctx, t, pool, "messages")
	report("k0", status.Sent)
	if read := rowsRead(ctx, t, pool, "messages") - before; read > 1000 {
		t.Fatalf("one report read %d rows of the log to find its text", read)
	}
}

// A text is read by its primary key, not by scanning the log: each text
// recorded suppressed, because its member had stopped, is read back to be
// announced, and compared as text its id matched no index.
func TestGetReadsOneTextOfAGrownLog(t *testing.T) {
	ctx := context.Background()
	st, pool := oneConnection(t)
	recorded, err := st.RecordAndClaimMany(ctx, []events.SendRequested{{IdempotencyKey: "k1", CampaignID: "c1", ContactID: "m1",
		Channel: events.ChannelSMS, To: "+12125550100", Body: "Vote Thursday"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := recorded["k1"].ID
	grow(ctx, t, pool)

	before := rowsRead(ctx, t, pool, "messages")
	m, err := st.Get(ctx, id)
	if err != nil || m.ID != id || m.IdempotencyKey != "k1" {
		t.Fatalf("Get(%s) = %s %q, %v", id, m.ID, m.IdempotencyKey, err)
	}
	if read := rowsRead(ctx, t, pool, "messages") - before; read > 1000 {
		t.Fatalf("reading one text read %d rows of the log", read)
	}
	if m, err := st.Get(ctx, strings.ToUpper(id)); err != nil || m.ID != id {
		t.Fatalf("Get of the id in capitals = %s, %v", m.ID, err)
	}
	for _, bad := range []string{"not-a-uuid", "", id + "0"} {
		if _, err := st.Get(ctx, bad); apperr.KindOf(err) != apperr.KindNotFound {
			t.Fatalf("Get(%q) = %v, want not found", bad, err)
		}
	}
}

// The answer to one batched email call finds its texts by id however the
// log has grown since the connection first ran it: the mailer applies
// "accepted" to each batch it sends, from a fresh database's first alert on.
func TestBatchAnswersFindTextsByIDAsTheLogGrows(t *testing.T) {
	ctx := context.Background()
	st, pool := oneConnection(t)
	var ids []string
	for _, m := range recordTexts(ctx, t, st, "a", 10, events.ChannelEmail) {
		ids = append(ids, m.ID)
	}
	for range 8 { // enough runs for PostgreSQL to keep a plan
		if _, err := st.ApplyMany(ctx, ids, store.Update{Status: status.Accepted}); err != nil {
			t.Fatal(err)
		}
	}
	grow(ctx, t, pool)

	before := rowsRead(ctx, t, pool, "messages")
	if moved, err := st.ApplyMany(ctx, ids[:1], store.Update{Status: status.Delivered}); err != nil || len(moved) != 1 {
		t.Fatalf("ApplyMany = %d moved, %v", len(moved), err)
	}
	if read := rowsRead(ctx, t, pool, "messages") - before; read > 1000 {
		t.Fatalf("one batch answer read %d rows of the log to find its text", read)
	}
}

// Each text's suppression check reads that member's suppression, not every
// suppression of the channel, however many members have stopped since the
// connection first checked and before statistics are gathered. In an alert
// during a storm of STOPs, a plan made while a few members had stopped read
// all of them for every text, and so did a plan made from no statistics.
func TestSuppressionCheckReadsOneMemberAsStopsGrow(t *testing.T) {
	ctx := context.Background()
	st, pool := oneConnection(t)
	stop := func(prefix string, n int) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO suppressions (channel, address, reason, source, created_at, renewed_at)
			SELECT 'sms', $1 || lpad(g::text, 4, '0'), 'stop', 'keyword', now(), now() FROM generate_series(1, $2::int) g`, prefix, n); err != nil {
			t.Fatal(err)
		}
	}
	stop("+1917555", 3)
	for i := range 8 { // enough runs for PostgreSQL to keep a plan
		recordTexts(ctx, t, st, fmt.Sprintf("early%d-", i), 50, events.ChannelSMS)
	}
	for _, more := range []struct {
		prefix string
		n      int
	}{{"+1718555", 300}, {"+1646555", 5000}} {
		stop(more.prefix, more.n)
		before := rowsRead(ctx, t, pool, "suppressions")
		recordTexts(ctx, t, st, "late"+more.prefix, 50, events.ChannelSMS)
		if read := rowsRead(ctx, t, pool, "suppressions") - before; read > 100 {
			t.Fatalf("after %d more STOPs, checking 50 texts read %d suppressions", more.n, read)
		}
		before = rowsRead(ctx, t, pool, "suppressions")
		if _, err := st.IsSuppressed(ctx, "sms", "+12125550000"); err != nil {
			t.Fatal(err)
		}
		if read := rowsRead(ctx, t, pool, "suppressions") - before; read > 2 {
			t.Fatalf("after %d more STOPs, checking one number read %d suppressions", more.n, read)
		}
	}
	if m := recordTexts(ctx, t, st, "stopped", 1, events.ChannelSMS, "+17185550042"); m[0].Status != status.Suppressed {
		t.Fatalf("a text to a stopped member is %s", m[0].Status)
	}
}

// recordTexts records n texts of one campaign, to the given numbers or
// addresses or to made-up ones, keyed by prefix.
func recordTexts(ctx context.Context, t *testing.T, st *store.Store, prefix string, n int, ch events.Channel, to ...string) []store.Message {
	t.Helper()
	reqs := make([]events.SendRequested, n)
	for i := range reqs {
		addr := fmt.Sprintf("+1212555%04d", i)
		if ch == events.ChannelEmail {
			addr = fmt.Sprintf("%s%d@members.test", prefix, i)
		}
		if i < len(to) {
			addr = to[i]
		}
		reqs[i] = events.SendRequested{IdempotencyKey: prefix + fmt.Sprint(i), CampaignID: "c1", ContactID: prefix + fmt.Sprint(i),
			Channel: ch, To: addr, Body: "Vote Thursday"}
	}
	recorded, err := st.RecordAndClaimMany(ctx, reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]store.Message, 0, n)
	for _, r := range reqs {
		out = append(out, recorded[r.IdempotencyKey])
	}
	return out
}

// oneConnection is a store on a fresh database through a pool of one
// connection, so every statement runs where its plan is kept.
func oneConnection(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := postgres.Open(context.Background(), testkit.Database(t, migrations.FS), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, testkit.NewClock(t).Now), pool
}

// grow adds 50,000 texts of another campaign to the log at once, as an
// alert does between two statements of a connection.
func grow(ctx context.Context, t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(ctx, `INSERT INTO messages (idempotency_key, campaign_id, step, contact_id, channel, to_addr, body,
			status, status_rank, created_at, updated_at)
		SELECT 'grown-' || g, 'c2', 0, 'm' || g, 'sms', '+1646555' || lpad(g::text, 4, '0'), 'Vote Thursday', 'accepted', $1, now(), now()
		FROM generate_series(1, 50000) g`, status.Accepted.Rank()); err != nil {
		t.Fatal(err)
	}
}

// rowsRead is how many rows of table scans have read, sequential or by
// index, including the statements this connection has just run.
func rowsRead(ctx context.Context, t *testing.T, pool *pgxpool.Pool, table string) int64 {
	t.Helper()
	// A backend publishes its counts when it next waits for a statement.
	if _, err := pool.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := pool.QueryRow(ctx, "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables WHERE relname = $1",
		table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
