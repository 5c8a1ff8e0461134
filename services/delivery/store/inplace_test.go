package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/testkit"
)

// A text's status reports after the first can rewrite it in place: no
// index of messages names a column they change, so PostgreSQL makes each
// a HOT update (the new version on the same page, no new index entry)
// when the page has room. Before, every report wrote a new entry in each
// of messages' eight indexes.
func TestStatusReportsRewriteTextsInPlace(t *testing.T) {
	ctx := context.Background()
	st, pool := oneConnection(t)
	texts := recordTexts(ctx, t, st, "k", 200, events.ChannelSMS)
	report := func(s status.Status, providerID func(i int) string) {
		t.Helper()
		outs := make([]store.Outcome, len(texts))
		for i, m := range texts {
			outs[i] = store.Outcome{ID: m.ID, Update: store.Update{Status: s, ProviderID: providerID(i)}}
		}
		applied, err := st.ApplyReports(ctx, outs)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range applied {
			if !a.Moved {
				t.Fatalf("report %d of %s did not move its text", i, s)
			}
		}
	}
	// The provider's answer names its id, an indexed column: not in place.
	report(status.Accepted, func(i int) string { return fmt.Sprintf("SM%032d", i) })
	none := func(int) string { return "" }
	before := testkit.TableUpdates(t, pool, "messages")
	report(status.Sent, none)
	report(status.Delivered, none)
	after := testkit.TableUpdates(t, pool, "messages")

	all, inPlace := after.All-before.All, after.InPlace-before.InPlace
	if all != int64(2*len(texts)) {
		t.Fatalf("%d updates of messages for %d reports", all, 2*len(texts))
	}
	// In place needs room on the text's page too, which depends on how
	// the earlier versions were laid out (here about two in five); an
	// index naming status makes it none.
	if inPlace < all/4 {
		t.Fatalf("%d of %d reports rewrote their text in place, want at least a quarter; messages' indexes:\n%s",
			inPlace, all, strings.Join(indexes(ctx, t, pool), "\n"))
	}
}

// indexes are messages' index definitions.
func indexes(ctx context.Context, t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, "SELECT indexdef FROM pg_indexes WHERE tablename = 'messages' ORDER BY indexname")
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// The sweepers' indexes hold only the texts they look for, now that they
// no longer name status: a text leaves the reconciler's when a report
// moves it on from unknown, and the due sweeper's when a report moves it
// on from a deferral.
func TestMovesTakeTextsOutOfTheSweepersIndexes(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	_, pool := oneConnection(t)
	st := store.New(pool, clock.Now)
	texts := recordTexts(ctx, t, st, "k", 2, events.ChannelSMS)
	unknown, deferred := texts[0].ID, texts[1].ID
	if _, err := st.ApplyReports(ctx, []store.Outcome{{ID: unknown, Update: store.Update{Status: status.Unknown}}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Release(ctx, deferred); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.Defer(ctx, deferred, clock.Now().Add(time.Hour), "quiet hours"); err != nil || !ok {
		t.Fatalf("defer = %v, %v", ok, err)
	}
	if n := marked(ctx, t, pool); n != 2 {
		t.Fatalf("%d texts marked unknown or deferred, want 2", n)
	}

	clock.Advance(2 * time.Hour)
	if list, err := st.Unsettled(ctx, clock.Now(), 10); err != nil || len(list) != 1 || list[0].ID != unknown {
		t.Fatalf("unsettled = %v, %v; want the unknown text", list, err)
	}
	if _, err := st.ApplyReports(ctx, []store.Outcome{
		{ID: unknown, Update: store.Update{Status: status.Delivered}},
		{ID: deferred, Update: store.Update{Status: status.Failed, Reason: "number disconnected"}},
	}); err != nil {
		t.Fatal(err)
	}
	if n := marked(ctx, t, pool); n != 0 {
		t.Fatalf("%d texts still marked unknown or deferred after both moved on", n)
	}
	if list, err := st.Unsettled(ctx, clock.Now(), 10); err != nil || len(list) != 0 {
		t.Fatalf("unsettled = %v, %v; want none", list, err)
	}
	if due, err := st.Due(ctx, clock.Now(), time.Minute, 10); err != nil || len(due) != 0 {
		t.Fatalf("due = %v, %v; want none", due, err)
	}
}

// marked counts the texts in the reconciler's or the due sweeper's index.
func marked(ctx context.Context, t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE unknown_since IS NOT NULL OR deferred_until IS NOT NULL`).
		Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
