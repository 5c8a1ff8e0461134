package retention_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/retention"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/testkit"
)

// TestHandledRepliesArePurged: inbox items handled 200 days ago go, with
// the organizers' answers to them (more than one batch); one handled 10
// days ago and one still open, however old, stay; a campaign reply's body
// is blanked after the period, a newer one is kept.
func TestHandledRepliesArePurged(t *testing.T) {
	ctx := context.Background()
	pool := testkit.Pool(t, migrations.FS)
	clock := testkit.NewClock(t)
	now := clock.Now()
	st := store.New(pool, clock.Now)
	item := func(event string, received time.Time, handled *time.Time, answers int) {
		t.Helper()
		if err := st.AddInbox(ctx, store.InboxItem{EventID: event, Channel: "sms", From: "+12125550101", Body: "reply " + event, ReceivedAt: received}); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE inbox SET handled_at = $2 WHERE event_id = $1`, event, handled); err != nil {
			t.Fatal(err)
		}
		for i := range answers {
			if _, err := pool.Exec(ctx, `INSERT INTO inbox_replies (inbox_id, body, idempotency_key, created_at)
				SELECT id, 'answer', $2, $3 FROM inbox WHERE event_id = $1`, event, event+"-"+string(rune('a'+i)), received); err != nil {
				t.Fatal(err)
			}
		}
	}
	old, recent := now.Add(-200*24*time.Hour), now.Add(-10*24*time.Hour)
	item("old", old, &old, 3)
	item("recent", recent, &recent, 1)
	item("open", old, nil, 0)
	for _, r := range []struct {
		id string
		at time.Time
	}{{"r-old", old}, {"r-new", recent}} {
		if _, err := pool.Exec(ctx, `INSERT INTO campaign_replies (event_id, campaign_id, contact_id, body, received_at) VALUES ($1, gen_random_uuid(), 'c1', 'see you there', $2)`, r.id, r.at); err != nil {
			t.Fatal(err)
		}
	}
	p := retention.New(pool, 180*24*time.Hour, clock.Now, nil, zaptest.NewLogger(t)).WithBatch(2)
	done, err := p.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if done["inbox_answers"] != 3 || done["inbox_items"] != 1 || done["reply_bodies"] != 1 {
		t.Fatalf("purged %v, want 3 answers, 1 item, 1 reply body", done)
	}
	var items []string
	rows, err := pool.Query(ctx, `SELECT event_id FROM inbox ORDER BY event_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		items = append(items, e)
	}
	if len(items) != 2 || items[0] != "open" || items[1] != "recent" {
		t.Fatalf("inbox keeps %v, want open and recent", items)
	}
	var blank, kept int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE body = ''), count(*) FILTER (WHERE body <> '') FROM campaign_replies`).Scan(&blank, &kept); err != nil || blank != 1 || kept != 1 {
		t.Fatalf("campaign replies: %d blanked, %d kept (%v)", blank, kept, err)
	}
}
