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

	before := tableScanned(ctx, t, pool)
	report("k0", status.Sent)
	if read := tableScanned(ctx, t, pool) - before; read > 1000 {
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

	before := tableScanned(ctx, t, pool)
	m, err := st.Get(ctx, id)
	if err != nil || m.ID != id || m.IdempotencyKey != "k1" {
		t.Fatalf("Get(%s) = %s %q, %v", id, m.ID, m.IdempotencyKey, err)
	}
	if read := tableScanned(ctx, t, pool) - before; read > 1000 {
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

// tableScanned is how many rows of messages sequential scans have read,
// including the statements this connection has just run.
func tableScanned(ctx context.Context, t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	// A backend publishes its counts when it next waits for a statement.
	if _, err := pool.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := pool.QueryRow(ctx, "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'messages'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
