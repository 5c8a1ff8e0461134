package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
)

// Texts delivery holds are counted by what holds them, each by its latest
// deferral, with when the last is due; once one goes it is no longer
// deferred.
func TestResultsCountDeferredTextsByReason(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	c := launched(t, st, campaign.ChannelsSMS)
	four := time.Date(2026, 12, 8, 21, 0, 0, 0, time.UTC)
	status := func(id, st, reason string) store.MessageStatus {
		rank := 1
		if st == events.StatusDelivered {
			rank = 5
		}
		return store.MessageStatus{StatusChange: events.StatusChange{MessageID: id, CampaignID: c.ID, ContactID: "k" + id,
			Channel: events.ChannelSMS, Status: st, Reason: reason}, Rank: rank}
	}
	steps := [][]store.MessageStatus{
		{
			status("m1", events.StatusQueued, events.DeferredReason(events.DeferMemberWindow, four)),
			status("m2", events.StatusQueued, events.DeferredReason(events.DeferPause, four.Add(72*time.Hour))),
			status("m3", events.StatusQueued, events.DeferredReason(events.DeferStateRule, four)),
			status("m4", events.StatusQueued, ""),
		},
		// m2's pause ended; its window holds it now. m3 went.
		{
			status("m2", events.StatusQueued, events.DeferredReason(events.DeferMemberWindow, four.Add(24*time.Hour))),
			status("m3", events.StatusDelivered, ""),
		},
	}
	for _, batch := range steps {
		if err := st.RecordStatuses(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	r, err := st.Results(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Deferred != 2 || len(r.DeferredByReason) != 1 || r.DeferredByReason[events.DeferMemberWindow] != 2 {
		t.Fatalf("deferred %d by reason %v, want 2 member_window", r.Deferred, r.DeferredByReason)
	}
	if r.DeferredLastUntil == nil || !r.DeferredLastUntil.Equal(four.Add(24*time.Hour)) {
		t.Fatalf("last due %v, want %s", r.DeferredLastUntil, four.Add(24*time.Hour))
	}
}
