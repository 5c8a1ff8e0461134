package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/testkit"
)

// openReviews records n possible opt-outs, one a minute, each due a day
// after it arrived and flagged an hour before that.
func openReviews(t *testing.T, st *store.Store, clock *testkit.Clock, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		in := store.Inbound{ProviderID: fmt.Sprintf("SM%04d", i), Channel: "sms", From: fmt.Sprintf("+1212555%04d", i), To: "+15550001111",
			Body: "I told you already to stop"}
		claim, err := st.ClaimInbound(ctx, in, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		in.ID, in.Keyword, in.Reason = claim.ID, "possible_opt_out", "uses STOP in a longer message"
		in.Review = &store.ReviewDeadline{DueAt: claim.ReceivedAt.Add(24 * time.Hour), WarnAt: claim.ReceivedAt.Add(23 * time.Hour)}
		if _, recorded, err := st.RecordInbound(ctx, in, clock.Now(), nil); err != nil || !recorded {
			t.Fatalf("record: %v %v", recorded, err)
		}
		clock.Advance(time.Minute)
	}
}

// Open reviews page oldest due first, each once; a warning is handed out
// once per review, however often the sweeper asks; due_soon counts the
// flagged ones on every page.
func TestReviewsPageAndWarnOnce(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	start := clock.Now()
	st := open(t, clock)
	openReviews(t, st, clock, 5)

	seen, after := []string{}, ""
	for range 5 {
		page, err := st.Reviews(ctx, store.ReviewQuery{State: "open", After: after, Limit: 2}, clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, rv := range page.Reviews {
			seen = append(seen, rv.ProviderID)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if fmt.Sprint(seen) != "[SM0000 SM0001 SM0002 SM0003 SM0004]" {
		t.Fatalf("paged %v, want all five oldest due first", seen)
	}
	if _, err := st.Reviews(ctx, store.ReviewQuery{State: "open", After: "yesterday"}, clock.Now()); err == nil {
		t.Error("a made-up position was taken")
	}

	if w, err := st.WarnReviews(ctx, clock.Now()); err != nil || len(w) != 0 {
		t.Fatalf("warnings before the window = %d, %v", len(w), err)
	}
	// Two and a half minutes into the first one's window: the first three
	// (recorded a minute apart) are in it.
	at := start.Add(23*time.Hour + 150*time.Second)
	w, err := st.WarnReviews(ctx, at)
	if err != nil || len(w) != 3 {
		t.Fatalf("warnings = %d, %v; want 3", len(w), err)
	}
	if again, err := st.WarnReviews(ctx, at.Add(time.Second)); err != nil || len(again) != 0 {
		t.Errorf("warned again: %d, %v", len(again), err)
	}
	page, err := st.Reviews(ctx, store.ReviewQuery{Limit: 1}, at)
	if err != nil {
		t.Fatal(err)
	}
	if page.DueSoon != 3 || !page.Reviews[0].Warn {
		t.Errorf("due_soon %d, first flagged %v; want 3 and flagged", page.DueSoon, page.Reviews[0].Warn)
	}
	if due, err := st.ReviewsDue(ctx, start.Add(24*time.Hour+30*time.Second), 10); err != nil || len(due) != 1 {
		t.Errorf("due half a minute after the first deadline = %d, %v; want the first only", len(due), err)
	}
}

// A decision is recorded once: deciding again returns the first decision
// unchanged and suppresses nothing more.
func TestDecideReviewOnce(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	st := open(t, clock)
	openReviews(t, st, clock, 1)
	page, err := st.Reviews(ctx, store.ReviewQuery{}, clock.Now())
	if err != nil || len(page.Reviews) != 1 {
		t.Fatalf("reviews = %+v, %v", page, err)
	}
	id := page.Reviews[0].ID
	calls := 0
	suppress := func(rv store.Review) store.Suppression {
		calls++
		return store.Suppression{Channel: rv.Channel, Address: rv.Address, Reason: "test", Source: "inbound_sms", At: rv.ReceivedAt}
	}
	rv, decided, err := st.DecideReview(ctx, id, store.ReviewDecision{Decision: store.DecisionOptOut, By: "ana", At: clock.Now(), Suppress: suppress})
	if err != nil || !decided || rv.Outcome != "added" || rv.DecidedAt == nil {
		t.Fatalf("first decision = %+v %v %v", rv, decided, err)
	}
	rv, decided, err = st.DecideReview(ctx, id, store.ReviewDecision{Decision: store.DecisionNotOptOut, By: "bo", At: clock.Now()})
	if err != nil || decided || rv.Decision != store.DecisionOptOut || rv.DecidedBy != "ana" {
		t.Fatalf("second decision = %+v %v %v, want the first unchanged", rv, decided, err)
	}
	if calls != 1 {
		t.Errorf("suppressed %d times, want once", calls)
	}
	if ok, _ := st.IsSuppressed(ctx, "sms", page.Reviews[0].Address); !ok {
		t.Error("the opt-out decision suppressed nothing")
	}
}
