package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

func open(t *testing.T, clock *testkit.Clock) *store.Store {
	t.Helper()
	pool, err := postgres.Open(context.Background(), testkit.Database(t, migrations.FS), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, clock.Now)
}

// The reconciler looks up a text whose outcome has been unknown for
// lookupAfter by the service's clock, however far that clock stands from
// PostgreSQL's: ten hours behind is where the test clock stood every
// afternoon in New York when the store still wrote now().
func TestUnsettledFollowsTheServiceClock(t *testing.T) {
	const lookupAfter = 2 * time.Minute
	for _, skew := range []time.Duration{-10 * time.Hour, 0, 10 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			ctx := context.Background()
			clock := testkit.NewClock(t)
			clock.Advance(skew)
			st := open(t, clock)
			m, created, err := st.Record(ctx, events.SendRequested{
				IdempotencyKey: "k1", CampaignID: "c1", ContactID: "m1", Channel: events.ChannelSMS,
				To: "+12125550100", Body: "Vote Thursday",
			}, 1)
			if err != nil || !created {
				t.Fatalf("record: created %v, %v", created, err)
			}
			if got, err := st.Claim(ctx, m.ID); err != nil || got != status.Sending {
				t.Fatalf("claim = %q, %v", got, err)
			}
			if _, moved, err := st.Apply(ctx, m.ID, store.Update{Status: status.Unknown}); err != nil || !moved {
				t.Fatalf("apply unknown: moved %v, %v", moved, err)
			}
			stale := func() int {
				list, err := st.Unsettled(ctx, clock.Now().Add(-lookupAfter), 10)
				if err != nil {
					t.Fatal(err)
				}
				return len(list)
			}
			if n := stale(); n != 0 {
				t.Fatalf("%d unsettled right after the call, want none yet", n)
			}
			clock.Advance(lookupAfter + time.Second)
			if n := stale(); n != 1 {
				t.Fatalf("%d unsettled %s later by the service's clock, want the text", n, lookupAfter+time.Second)
			}
		})
	}
}

// A member's text is claimed without waiting for the disk, and only that
// claim: the connection it used, next used to claim a text for sending,
// waits again. Were the setting to outlive the claim's transaction, a
// crash could lose a send's claim after the text went out, and the text
// would go twice.
func TestArrivalClaimLeavesCommitsDurable(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	pool, err := postgres.Open(ctx, testkit.Database(t, migrations.FS), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool, clock.Now)
	setting := func() string {
		var v string
		if err := pool.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The pool's one connection waits for the disk, whatever the server's
	// default, so a setting left behind by the claim would show.
	if _, err := pool.Exec(ctx, `SET synchronous_commit = on`); err != nil {
		t.Fatal(err)
	}
	if v := setting(); v != "on" {
		t.Fatalf("synchronous_commit before = %q, want on", v)
	}
	in := store.Inbound{ProviderID: "SM1", Channel: string(events.ChannelSMS), From: "+12125550100", To: "+15550001111", Body: "STOP"}
	a, err := st.ClaimArrival(ctx, in, clock.Now())
	if err != nil || a.ID == "" || a.Handled {
		t.Fatalf("claim = %+v, %v", a, err)
	}
	if v := setting(); v != "on" {
		t.Errorf("synchronous_commit after the claim = %q, want on: the claim's setting outlived its transaction", v)
	}
	again, err := st.ClaimArrival(ctx, in, clock.Now())
	if err != nil || again.ID != a.ID {
		t.Fatalf("second claim = %+v, %v; want the first's id %s", again, err, a.ID)
	}
}
