package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

func open(t *testing.T) *store.Store {
	t.Helper()
	pool, err := postgres.Open(context.Background(), testkit.Database(t, migrations.FS), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return store.New(pool, testkit.NewClock(t).Now)
}

func launched(t *testing.T, st *store.Store, channel campaign.Channels) campaign.Campaign {
	t.Helper()
	ctx := context.Background()
	d := campaign.Draft{Name: "n", Channel: channel, Body: "hi", Email: &campaign.Email{Subject: "s", Text: "t"}, Audience: campaign.Audience{Tag: "a"}}
	c, err := d.Validate(time.Now(), "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = st.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if c, _, err = st.Launch(ctx, c.ID, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLeasesAreSharedAndPausesHold: replicas claiming at once each get a
// different job or none; a pause stops a fan-out at its next page (the
// page is still recorded), no replica claims a paused campaign's job, and
// after resuming the job carries on from its cursor.
func TestLeasesAreSharedAndPausesHold(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	c := launched(t, st, campaign.ChannelsBoth) // two jobs: sms and email

	var mu sync.Mutex
	var leases []*store.Lease
	var wg sync.WaitGroup
	for _, owner := range []string{"a", "b", "c", "d"} {
		wg.Go(func() {
			l, err := st.ClaimFanout(ctx, owner, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if l != nil {
				mu.Lock()
				leases = append(leases, l)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(leases) != 2 || leases[0].Channel == leases[1].Channel {
		t.Fatalf("four replicas claimed %d jobs: %+v", len(leases), leases)
	}
	l := leases[0]
	page := []events.Member{{ContactID: "c1", Phone: "+12125550101", Email: "c1@example.org"}, {ContactID: "c2", Phone: "+12125550102", Email: "c2@example.org"}}
	if err := st.Advance(ctx, l, "c2", page, time.Minute); err != nil {
		t.Fatal(err)
	}
	stranger := *l
	stranger.Owner = "z"
	if err := st.Advance(ctx, &stranger, "c9", nil, time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("advance by a replica without the lease = %v, want ErrLeaseLost", err)
	}

	if _, err := st.Pause(ctx, c.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	more := []events.Member{{ContactID: "c3", Phone: "+12125550103", Email: "c3@example.org"}}
	if err := st.Advance(ctx, l, "c3", more, time.Minute); !errors.Is(err, store.ErrStopped) {
		t.Fatalf("advance after a pause = %v, want ErrStopped", err)
	}
	if err := st.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClaimFanout(ctx, "e", time.Minute); err != nil || got != nil {
		t.Fatalf("claimed a paused campaign's job: %+v %v", got, err)
	}
	if _, err := st.Resume(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	again, err := st.ClaimFanout(ctx, "e", time.Minute)
	if err != nil || again == nil || again.Channel != l.Channel || again.Cursor != "c3" {
		t.Fatalf("after resume claimed %+v %v, want the %s job at cursor c3", again, err, l.Channel)
	}
	if got, _ := st.Get(ctx, c.ID); got.Targeted != 3 || got.Status != campaign.StatusLaunching {
		t.Errorf("campaign = %s targeted %d, want launching 3 (the page recorded at the pause counts)", got.Status, got.Targeted)
	}
	if err := st.Complete(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, c.ID); got.Status != campaign.StatusLaunching {
		t.Errorf("one of two jobs done: campaign is %s, want launching", got.Status)
	}
	other := leases[1]
	if err := st.Complete(ctx, other); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, c.ID); got.Status != campaign.StatusLaunched || got.CompletedAt == nil {
		t.Errorf("both jobs done: campaign is %s, want launched", got.Status)
	}
}

// TestAnswersAreRecordedOncePerMember: an RSVP's latest answer wins, a
// repeat or an older answer changes nothing, and the same event
// redelivered is still its own; a signature counts once whatever the
// channel.
func TestAnswersAreRecordedOncePerMember(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	c := launched(t, st, campaign.ChannelsSMS)
	t0 := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	rsvp := func(answer, event string, at time.Time) bool {
		t.Helper()
		mine, err := st.RecordRSVP(ctx, store.Answer{CampaignID: c.ID, ContactID: "ana", Answer: answer, Channel: "sms", Source: store.SourceReply, EventID: event, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return mine
	}
	steps := []struct {
		answer, event string
		at            time.Time
		mine          bool
	}{
		{"yes", "e1", t0, true},
		{"yes", "e1", t0, true},                   // redelivered: still this event's answer
		{"yes", "e2", t0.Add(time.Minute), false}, // a repeat
		{"no", "e3", t0.Add(2 * time.Minute), true},
		{"yes", "e4", t0.Add(time.Minute / 2), false}, // older than the no
	}
	for i, s := range steps {
		if got := rsvp(s.answer, s.event, s.at); got != s.mine {
			t.Errorf("step %d (%s %s): mine = %v, want %v", i, s.answer, s.event, got, s.mine)
		}
	}
	sign := func(event, source string) bool {
		t.Helper()
		mine, err := st.RecordAction(ctx, store.Answer{CampaignID: c.ID, ContactID: "ana", Answer: "sign", Channel: "sms", Source: source, EventID: event, At: t0})
		if err != nil {
			t.Fatal(err)
		}
		return mine
	}
	first, redelivered, second := sign("s1", store.SourceReply), sign("s1", store.SourceReply), sign("s2", store.SourceLink)
	if !first || !redelivered || second {
		t.Errorf("signature events mine = %v, %v, %v; want true (first), true (redelivered), false (a second way to sign)", first, redelivered, second)
	}
	if n, err := st.CountActions(ctx, c.ID, "sign"); err != nil || n != 1 {
		t.Errorf("signatures = %d %v, want 1", n, err)
	}
	if _, err := st.Get(ctx, "00000000-0000-4000-8000-000000000000"); apperr.KindOf(err) != apperr.KindNotFound {
		t.Errorf("unknown campaign = %v, want not found", err)
	}
}
