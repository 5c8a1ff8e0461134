package store_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// TestAnErasureWaitsForCampaignsToComeBack: campaigns is down (its
// durable consumer exists, nothing reads it) when contacts publishes an
// erasure; delivery takes it at once, yet the ERASURE stream keeps it for
// campaigns. When campaigns is back, its consumer erases the member's
// inbox item, and the stream then holds nothing: the address in the event
// does not outlive the erasure. The same event published again (a
// redelivery) changes nothing more.
func TestAnErasureWaitsForCampaignsToComeBack(t *testing.T) {
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	pool := testkit.Pool(t, migrations.FS)
	st := store.New(pool, testkit.NewClock(t).Now)
	const member, phone = "7d1f7c4e-6c3b-4f39-9d38-1f7f1c2b9a01", "+12125550177"
	if err := st.AddInbox(ctx, store.InboxItem{EventID: "e1", ContactID: member, FirstName: "Marisol", Channel: "sms", From: phone,
		Body: "Can I bring my kids?", ReceivedAt: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	n := testkit.StartNATS(t)
	cnc, campaignsJS, err := stream.Connect(n.URL(), "campaigns", log, n.ClientOptions(natsauth.Campaigns)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cnc.Close()
	dnc, deliveryJS, err := stream.Connect(n.URL(), "delivery", log, n.ClientOptions(natsauth.Delivery)...)
	if err != nil {
		t.Fatal(err)
	}
	defer dnc.Close()
	pnc, contactsJS, err := stream.Connect(n.URL(), "contacts", log, n.ClientOptions(natsauth.Contacts)...)
	if err != nil {
		t.Fatal(err)
	}
	defer pnc.Close()
	if err := stream.EnsureStreams(ctx, contactsJS, stream.Topology{}, events.StreamErasure, events.StreamDeadLetter); err != nil {
		t.Fatal(err)
	}
	// Both services ran once, so both consumers exist; campaigns stops.
	spec := stream.Consumer{Stream: events.StreamErasure, Durable: "campaigns-erasure", Workers: 1}
	campaignsRun, err := stream.Run(ctx, campaignsJS, spec, erasure.Handler(st, log), log)
	if err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	campaignsRun.Stop(stopCtx)
	cancel()
	handled := make(chan string, 4)
	deliveryRun, err := stream.Run(ctx, deliveryJS, stream.Consumer{Stream: events.StreamErasure, Durable: "delivery-erasure", Workers: 1},
		func(_ context.Context, m stream.Msg) error {
			ev, err := events.Decode[events.ContactErased](m.Data)
			if err != nil {
				return stream.Permanent(err)
			}
			handled <- ev.ContactID
			return nil
		}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		deliveryRun.Stop(c)
		cancel()
	}()

	ev := events.ContactErased{Meta: events.NewMeta(events.TypeContactErased, events.VersionContactErased, "", time.Now()),
		ContactID: member, Addresses: []events.ErasedAddress{{Channel: events.ChannelSMS, Address: phone}}, ErasedBy: "admin"}
	if err := stream.Publish(ctx, contactsJS, events.SubjectContactErased, ev.ID, ev); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-handled:
		if got != member {
			t.Fatalf("delivery handled %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("delivery never took the erasure")
	}
	msgs := func() uint64 {
		s, err := contactsJS.Stream(ctx, events.StreamErasure)
		if err != nil {
			t.Fatal(err)
		}
		return s.CachedInfo().State.Msgs
	}
	inbox := func() string {
		items, err := st.Inbox(ctx, store.InboxQuery{Status: "all"})
		if err != nil || len(items) != 1 {
			t.Fatalf("inbox = %+v (%v)", items, err)
		}
		return items[0].Body + items[0].From + items[0].FirstName
	}
	time.Sleep(200 * time.Millisecond) // room for a wrong retention to drop it
	if msgs() != 1 || inbox() == "" {
		t.Fatalf("with campaigns down: the stream holds %d events, the inbox %q; want the event kept and the item untouched", msgs(), inbox())
	}

	// Campaigns comes back.
	campaignsRun, err = stream.Run(ctx, campaignsJS, spec, erasure.Handler(st, log), log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		campaignsRun.Stop(c)
		cancel()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for inbox() != "" || msgs() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after campaigns came back: inbox %q, stream %d events", inbox(), msgs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A redelivery (the same event again, under a new message id so the
	// duplicate window does not drop it) is handled and changes nothing.
	if err := stream.Publish(ctx, contactsJS, events.SubjectContactErased, ev.ID+"-again", ev); err != nil {
		t.Fatal(err)
	}
	<-handled
	deadline = time.Now().Add(10 * time.Second)
	for msgs() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the redelivered erasure was not taken by campaigns")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := inbox(); got != "" {
		t.Fatalf("after the redelivery the inbox item holds %q", got)
	}
}
