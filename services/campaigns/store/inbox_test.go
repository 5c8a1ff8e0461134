package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/store"
)

// TestTheInboxIsOneRowPerConversation: three members' replies (two from
// Ana, one of them to another campaign; one from an unknown number) are
// three conversations, newest first, each showing its latest reply and
// how many are open; a campaign filter keeps that campaign's replies;
// answering Ana's newest reply handles hers up to it, not a later one; a
// bulk "handled" closes whole conversations.
func TestTheInboxIsOneRowPerConversation(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	a := launched(t, st, campaign.ChannelsSMS)
	b := launched(t, st, campaign.ChannelsSMS)
	t0 := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	add := func(event, camp, contact, from, body string, at time.Time) {
		t.Helper()
		var cid *string
		if camp != "" {
			cid = &camp
		}
		if err := st.AddInbox(ctx, store.InboxItem{EventID: event, CampaignID: cid, ContactID: contact, FirstName: contact,
			Channel: "sms", From: from, Body: body, ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("e1", a.ID, "ana", "+12125550101", "Can I bring my kids?", t0)
	add("e2", b.ID, "bo", "+12125550102", "What time?", t0.Add(time.Minute))
	add("e3", "", "", "+12125550199", "who is this", t0.Add(2*time.Minute))
	add("e4", b.ID, "ana", "+12125550101", "And parking?", t0.Add(3*time.Minute))

	convs, err := st.Conversations(ctx, store.InboxQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 3 || convs[0].Latest.Body != "And parking?" || convs[0].Count != 2 || convs[0].Open != 2 ||
		convs[0].Latest.Conversation != "c:ana" || convs[1].Latest.Conversation != "a:+12125550199" || convs[2].Latest.FirstName != "bo" {
		t.Fatalf("conversations = %+v", convs)
	}
	byA, err := st.Conversations(ctx, store.InboxQuery{CampaignID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(byA) != 1 || byA[0].Latest.Body != "Can I bring my kids?" || byA[0].Count != 1 {
		t.Fatalf("conversations answering campaign a = %+v", byA)
	}
	thread, err := st.Inbox(ctx, store.InboxQuery{Status: "all", Conversation: "c:ana"})
	if err != nil {
		t.Fatal(err)
	}
	if len(thread) != 2 {
		t.Fatalf("Ana's thread = %+v", thread)
	}

	// Ana's first reply answered: the later one stays open.
	first, err := st.InboxItem(ctx, thread[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	n, camps, err := st.HandleAnswered(ctx, first, t0.Add(time.Hour))
	if err != nil || n != 1 || len(camps) != 1 || camps[0] != a.ID {
		t.Fatalf("answering Ana's first reply = %d %v %v, want 1 handled of campaign a", n, camps, err)
	}
	open1, _ := st.Conversations(ctx, store.InboxQuery{})
	if len(open1) != 3 || open1[0].Open != 1 {
		t.Fatalf("after answering the first: %+v", open1)
	}

	// Bulk: Ana's and the unknown number's conversations.
	n, _, err = st.HandleConversations(ctx, []string{"c:ana", "a:+12125550199"}, t0.Add(time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("bulk handled = %d %v, want 2", n, err)
	}
	waiting, _ := st.Conversations(ctx, store.InboxQuery{Status: "open"})
	handled, _ := st.Conversations(ctx, store.InboxQuery{Status: "handled"})
	if len(waiting) != 1 || waiting[0].Latest.Conversation != "c:bo" || len(handled) != 2 {
		t.Fatalf("waiting %+v, handled %+v", waiting, handled)
	}
	if _, err := st.Conversations(ctx, store.InboxQuery{Status: "bogus"}); err == nil {
		t.Fatal("a bogus status was accepted")
	}
}
