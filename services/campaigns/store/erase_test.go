package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
)

// TestEraseIsIdempotent erases a member with an inbox item and an RSVP,
// twice (a redelivered contact.erased): their reply and name are gone
// from the inbox, their answer is gone, another member's are kept, and
// the second run changes nothing.
func TestEraseIsIdempotent(t *testing.T) {
	ctx := context.Background()
	st := open(t)
	c := launched(t, st, campaign.ChannelsSMS)
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	member, other := "7d1f7c4e-6c3b-4f39-9d38-1f7f1c2b9a01", "7d1f7c4e-6c3b-4f39-9d38-1f7f1c2b9a02"
	for i, who := range []string{member, other} {
		if err := st.AddInbox(ctx, store.InboxItem{EventID: "e" + who, CampaignID: &c.ID, ContactID: who, FirstName: "Name" + who[len(who)-1:],
			Channel: "sms", From: "+1212555010" + who[len(who)-1:], Body: "I'll be there, " + who, ReceivedAt: at.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RecordRSVP(ctx, store.Answer{CampaignID: c.ID, ContactID: who, Answer: "yes", Channel: "sms", Source: store.SourceReply,
			EventID: "e" + who, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	// An unmatched reply from the member's number, before they were known.
	if err := st.AddInbox(ctx, store.InboxItem{EventID: "unmatched", Channel: "sms", From: "+12125550101", Body: "who is this", ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
	ev := events.ContactErased{ContactID: member, Addresses: []events.ErasedAddress{{Channel: events.ChannelSMS, Address: "+12125550101"}}}
	for range 2 {
		if err := st.Erase(ctx, ev); err != nil {
			t.Fatal(err)
		}
		items, err := st.Inbox(ctx, store.InboxQuery{Status: "all"})
		if err != nil {
			t.Fatal(err)
		}
		kept := 0
		for _, it := range items {
			switch {
			case it.ContactID == other:
				kept++
				if it.Body == "" || it.From == "" {
					t.Fatalf("another member's item was blanked: %+v", it)
				}
			case it.Body != "" || it.From != "" || it.FirstName != "":
				t.Fatalf("the erased member's item keeps %+v", it)
			}
		}
		if kept != 1 {
			t.Fatalf("%d of the other member's items left, want 1", kept)
		}
	}
	// The other member's RSVP is kept (the same answer again is a repeat);
	// the erased member's is gone (the same answer again is new).
	for who, want := range map[string]bool{other: false, member: true} {
		isNew, err := st.RecordRSVP(ctx, store.Answer{CampaignID: c.ID, ContactID: who, Answer: "yes", Channel: "sms", Source: store.SourceReply,
			EventID: "again" + who, At: at.Add(time.Hour)})
		if err != nil || isNew != want {
			t.Fatalf("RSVP of %s again: new %v (%v), want %v", who, isNew, err, want)
		}
	}
}
