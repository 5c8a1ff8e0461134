package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/store"
)

// TestPollAnswersLatestCountsAndHistoryKeepsEveryChange: an answer
// arriving late (older than the stored one) changes nothing; a redelivery
// is this event's again (so its follow-up may be retried under its own
// key); a repeat of the same answer is no change; every change is in the
// history with the answer it replaced; a follow-up's YES is kept once.
func TestPollAnswersLatestCountsAndHistoryKeepsEveryChange(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	c := launched(t, st, "sms")
	t0 := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	ans := func(ev, answer string, at time.Time) bool {
		t.Helper()
		mine, err := st.RecordPollAnswer(ctx, store.PollAnswer{CampaignID: c.ID, ContactID: "m1", Answer: answer, Channel: "sms",
			EventID: ev, Body: answer, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return mine
	}
	if !ans("e1", "Heavy", t0) {
		t.Fatal("a first answer is the member's")
	}
	if !ans("e1", "Heavy", t0) {
		t.Fatal("a redelivered answer is still this event's")
	}
	if ans("e2", "Heavy", t0.Add(time.Minute)) {
		t.Fatal("the same answer again is no change")
	}
	if ans("e0", "Manageable", t0.Add(-time.Minute)) {
		t.Fatal("an older answer arriving late overrode a newer one")
	}
	if err := st.MarkFollowUp(ctx, c.ID, "m1", "e1"); err != nil {
		t.Fatal(err)
	}
	if w, err := st.FollowUpWaiting(ctx, c.ID, "m1"); err != nil || !w {
		t.Fatalf("follow-up waiting = %v %v", w, err)
	}
	if err := st.RecordFollowUpYes(ctx, c.ID, "m1", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if w, _ := st.FollowUpWaiting(ctx, c.ID, "m1"); w {
		t.Fatal("the follow-up still waits after its YES")
	}
	pc, err := st.CountPoll(ctx, c.ID, []string{"Manageable", "Heavy", "Unsafe"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Counts["Heavy"] != 1 || pc.Counts["Unsafe"] != 0 || pc.Answered != 1 || pc.NoAnswer != 2 || pc.FollowUpYes != 1 {
		t.Fatalf("count = %+v", pc)
	}
	if !ans("e3", "Unsafe", t0.Add(3*time.Minute)) {
		t.Fatal("a changed answer is the member's")
	}
	if w, _ := st.FollowUpWaiting(ctx, c.ID, "m1"); w {
		t.Fatal("a changed answer carried the old follow-up")
	}
	hist, err := st.MemberPollHistory(ctx, "m1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Answer != "Unsafe" || hist[0].Previous != "Heavy" || hist[1].Answer != "Heavy" || hist[1].Previous != "" {
		t.Fatalf("history = %+v", hist)
	}
}
