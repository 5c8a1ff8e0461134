package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

// A message's results row is rewritten in place by its status changes
// after the first: no index of campaign_messages names a column a change
// writes, so PostgreSQL makes each a HOT update (the new version on the
// same page, no new index entry) when the page has room. Before, every
// change wrote a new entry in both indexes.
func TestStatusChangesRewriteResultsInPlace(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testkit.Database(t, migrations.FS), 1) // one backend, whose counts it flushes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := store.New(pool, testkit.NewClock(t).Now)
	c := launched(t, st, campaign.ChannelsSMS)
	const messages = 200
	record := func(status string, rank int) {
		t.Helper()
		list := make([]store.MessageStatus, messages)
		for i := range list {
			list[i] = store.MessageStatus{StatusChange: events.StatusChange{MessageID: fmt.Sprintf("m%d", i), CampaignID: c.ID,
				ContactID: fmt.Sprintf("k%d", i), Channel: events.ChannelSMS, Status: status}, Rank: rank}
		}
		if err := st.RecordStatuses(ctx, list); err != nil {
			t.Fatal(err)
		}
	}
	rank := func(status string) int {
		r, ok := events.StatusRank(status)
		if !ok {
			t.Fatalf("no rank for %s", status)
		}
		return r
	}
	record(events.StatusQueued, rank(events.StatusQueued))
	before := testkit.TableUpdates(t, pool, "campaign_messages")
	record(events.StatusSent, rank(events.StatusSent))
	record(events.StatusDelivered, rank(events.StatusDelivered))
	after := testkit.TableUpdates(t, pool, "campaign_messages")

	all, inPlace := after.All-before.All, after.InPlace-before.InPlace
	if all != 2*messages {
		t.Fatalf("%d updates of campaign_messages for %d changes", all, 2*messages)
	}
	// In place needs room on the row's page too; an index naming status
	// makes it none.
	if inPlace < all/4 {
		t.Fatalf("%d of %d status changes rewrote their row in place, want at least a quarter", inPlace, all)
	}
}
