package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

func openPool(t *testing.T, clock *testkit.Clock) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := postgres.Open(context.Background(), testkit.Database(t, migrations.FS), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, clock.Now), pool
}

func nights(r *store.Rhythm) error {
	w := quiet.Window{Start: 16 * time.Hour, End: 21 * time.Hour}
	r.Window = &w
	return nil
}

// A member's change is saved with its history row and its event, all
// stamped by the service's clock; the same message SID again changes
// nothing and gets the first reply.
func TestSaveRhythmOncePerMessage(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	clock.Advance(-7 * time.Hour) // far from PostgreSQL's clock: only the store's may show
	st, pool := openPool(t, clock)
	const member = "+12125550177"
	if r, found, err := st.Rhythm(ctx, member); err != nil || found || r.Window != nil || r.Channels != "both" {
		t.Fatalf("before any change: %+v found %v, %v", r, found, err)
	}
	change := store.RhythmChange{
		Address: member, Channel: "sms", Change: "nights", Source: events.SourceInboundSMS,
		MessageSID: "SM1", Evidence: "NIGHTS (SM1)", Apply: nights,
		Reply: func(r store.Rhythm) string { return "texts " + r.WindowText() },
	}
	got, err := st.SaveRhythm(ctx, change)
	if err != nil || got.Repeated || got.Reply != "texts 16:00-21:00" {
		t.Fatalf("save = %+v, %v", got, err)
	}
	r, found, err := st.Rhythm(ctx, member)
	if err != nil || !found || r.WindowText() != "16:00-21:00" || r.Channel != "sms" {
		t.Fatalf("rhythm = %+v found %v, %v", r, found, err)
	}
	if d := r.UpdatedAt.Sub(clock.Now()); d > time.Minute || d < -time.Minute {
		t.Fatalf("updated_at %s is not the service clock's %s", r.UpdatedAt, clock.Now())
	}
	change.Reply = func(store.Rhythm) string { return "a second reply" }
	change.Apply = func(r *store.Rhythm) error { r.Window = nil; return nil }
	again, err := st.SaveRhythm(ctx, change)
	if err != nil || !again.Repeated || again.Reply != "texts 16:00-21:00" || again.Rhythm.WindowText() != "16:00-21:00" {
		t.Fatalf("replay = %+v, %v", again, err)
	}
	hist, err := st.RhythmHistory(ctx, member)
	if err != nil || len(hist) != 1 || hist[0].Change != "nights" || hist[0].MessageSID != "SM1" || hist[0].Before != nil {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	var payload []byte
	var subject string
	if err := pool.QueryRow(ctx, `SELECT subject, payload FROM outbox WHERE msg_id = 'rhythm.SM1'`).Scan(&subject, &payload); err != nil {
		t.Fatalf("outbox: %v", err)
	}
	var ev events.RhythmChanged
	if err := json.Unmarshal(payload, &ev); err != nil || subject != events.SubjectRhythmChanged ||
		ev.Window != "16:00-21:00" || ev.Source != events.SourceInboundSMS || ev.Channel != events.ChannelSMS {
		t.Fatalf("event on %s = %+v, %v", subject, ev, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d events queued, want 1 (%v)", n, err)
	}

	// A refused change (a bad argument) writes nothing at all.
	bad := errors.New("no")
	if _, err := st.SaveRhythm(ctx, store.RhythmChange{Address: member, Channel: "sms", Change: "pause", Source: events.SourceInboundSMS,
		MessageSID: "SM2", Apply: func(*store.Rhythm) error { return bad }}); !errors.Is(err, bad) {
		t.Fatalf("refused change = %v", err)
	}
	if hist, _ := st.RhythmHistory(ctx, member); len(hist) != 1 {
		t.Fatalf("a refused change was recorded: %+v", hist)
	}

	// A second, different change keeps the first in the history.
	until := clock.Now().Add(72 * time.Hour)
	if _, err := st.SaveRhythm(ctx, store.RhythmChange{Address: member, Channel: "sms", Change: "pause", Source: events.SourceInboundSMS,
		MessageSID: "SM3", Apply: func(r *store.Rhythm) error { r.PausedUntil = &until; return nil }}); err != nil {
		t.Fatal(err)
	}
	hist, _ = st.RhythmHistory(ctx, member)
	if len(hist) != 2 || hist[1].Before == nil {
		t.Fatalf("history = %+v", hist)
	}
	r, _, _ = st.Rhythm(ctx, member)
	if !r.Paused(clock.Now()) || r.WindowText() != "16:00-21:00" {
		t.Fatalf("after pause: %+v", r)
	}
}

// The migration seeds the stricter states; an admin's edit replaces a
// state's week.
func TestStateRulesSeededAndEditable(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	st := open(t, clock)
	days, err := st.StateRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byState := map[string][]store.StateRuleDay{}
	for _, d := range days {
		byState[d.State] = append(byState[d.State], d)
	}
	for state, want := range map[string]struct {
		weekday, sunday string
		max             int
	}{
		"TX": {"09:00-21:00", "12:00-21:00", 0}, "FL": {"08:00-20:00", "08:00-20:00", 3},
		"OK": {"08:00-20:00", "08:00-20:00", 3}, "MD": {"08:00-20:00", "08:00-20:00", 3}, "WA": {"08:00-20:00", "08:00-20:00", 0},
	} {
		rows := byState[state]
		if len(rows) != 7 {
			t.Fatalf("%s: %d rows", state, len(rows))
		}
		if rows[0].Window.String() != want.sunday || rows[3].Window.String() != want.weekday || rows[6].Window.String() != want.weekday || rows[1].MaxPer24h != want.max {
			t.Errorf("%s: %+v", state, rows)
		}
	}
	var week [7]quiet.Window
	for d := range week {
		week[d] = quiet.Window{Start: 9 * time.Hour, End: 20 * time.Hour}
	}
	if err := st.SaveStateRule(ctx, "TX", week, 2, "test", "admin@example.org"); err != nil {
		t.Fatal(err)
	}
	days, _ = st.StateRules(ctx)
	for _, d := range days {
		if d.State == "TX" && (d.Window.String() != "09:00-20:00" || d.MaxPer24h != 2 || d.UpdatedBy != "admin@example.org") {
			t.Fatalf("TX after edit: %+v", d)
		}
	}
}
