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
	texts := recordTexts(ctx, t, st, "k", 10, events.ChannelSMS)
	report := func(id string, s status.Status) {
		t.Helper()
		if _, err := st.ApplyReports(ctx, []store.Outcome{{ID: id, Update: store.Update{Status: s}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range texts {
		report(m.ID, status.Accepted)
	}
	grow(ctx, t, pool)

	before := rowsRead(ctx, t, pool, "messages")
	report(texts[0].ID, status.Sent)
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

// Which of an email event post's events were acted on before is read by
// their ids however many events the log has recorded since the connection
// first asked. A fresh database's first email alert is where this broke:
// with about 800 events recorded when PostgreSQL settled on a plan, the
// plan it kept was to read every event, cheaper than the index at that
// size, and it read up to all 200,000 of the alert's events for each
// post of 100 (three runs of eleven settled 61 to 178 s after the last
// email, not 18). Where the plan goes wrong depends on PostgreSQL's
// costs, so the first posts come with several counts already recorded.
func TestEmailEventDedupeReadsItsEventsAsTheLogGrows(t *testing.T) {
	for _, before := range []int{0, 400, 800, 1200, 1600} {
		t.Run(fmt.Sprint(before), func(t *testing.T) {
			ctx := context.Background()
			st, pool := oneConnection(t)
			record := func(prefix string, n int) []string {
				t.Helper()
				evs := make([]store.EmailEventRecord, n)
				ids := make([]string, n)
				for i := range evs {
					ids[i] = fmt.Sprintf("%s%d", prefix, i)
					evs[i] = store.EmailEventRecord{ID: ids[i], Event: "delivered"}
				}
				if err := st.RecordEmailEvents(ctx, evs); err != nil {
					t.Fatal(err)
				}
				return ids
			}
			record("before-", before)
			// Posts of 100 events, each asked about and then recorded.
			var early []string
			for i := range 12 { // enough runs for PostgreSQL to keep a plan
				post := make([]string, 100)
				for j := range post {
					post[j] = fmt.Sprintf("post%d-%d", i, j)
				}
				if seen, err := st.SeenEmailEvents(ctx, post); err != nil || len(seen) != 0 {
					t.Fatalf("SeenEmailEvents = %v, %v before the post was recorded", seen, err)
				}
				early = append(early, record(fmt.Sprintf("post%d-", i), 100)...)
			}
			record("grown-", 50000)

			from := rowsRead(ctx, t, pool, "email_events")
			seen, err := st.SeenEmailEvents(ctx, []string{early[3], "grown-42", "never-posted"})
			if err != nil {
				t.Fatal(err)
			}
			if !seen[early[3]] || !seen["grown-42"] || seen["never-posted"] {
				t.Fatalf("seen = %v, want %s and grown-42 only", seen, early[3])
			}
			if read := rowsRead(ctx, t, pool, "email_events") - from; read > 100 {
				t.Fatalf("asking about three events read %d rows of the log", read)
			}
		})
	}
}

// The send workers read a batch's members' rhythms (NIGHTS, PAUSE, LESS)
// by address however many members have chosen one since the connection
// first asked. Every plan PostgreSQL kept for the question read every
// member's rhythm for every batch: the more members used the rhythm
// words, the slower every alert went.
func TestRhythmsReadTheirMembersAsRhythmsGrow(t *testing.T) {
	ctx := context.Background()
	st, pool := oneConnection(t)
	choose := func(prefix string, n int) {
		t.Helper()
		if _, err := pool.Exec(ctx, `INSERT INTO member_rhythm (address, channel, paused_until, updated_at)
			SELECT $1 || lpad(g::text, 6, '0'), 'sms', now() + interval '1 day', now() FROM generate_series(1, $2::int) g`, prefix, n); err != nil {
			t.Fatal(err)
		}
	}
	choose("+1718555", 800)
	batch := make([]string, 100)
	for i := range 8 { // enough runs for PostgreSQL to keep a plan
		for j := range batch {
			batch[j] = fmt.Sprintf("+1212555%04d", i*100+j)
		}
		if _, err := st.Rhythms(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	choose("+1646555", 50000)

	before := rowsRead(ctx, t, pool, "member_rhythm")
	got, err := st.Rhythms(ctx, []string{"+1718555000042", "+1646555000042", "+12125550000"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["+1646555000042"].PausedUntil == nil {
		t.Fatalf("rhythms = %v, want the two paused members", got)
	}
	if read := rowsRead(ctx, t, pool, "member_rhythm") - before; read > 100 {
		t.Fatalf("reading three members' rhythms read %d rows", read)
	}
}
