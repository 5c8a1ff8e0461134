package outbox_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/services/contacts/outbox"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// TestQueuedEventsArePublishedOnce stands for a crash between the commit
// and the publish: the opt-out is committed with nothing running to
// publish it; a relay started afterwards publishes it, and a second relay
// publishing the same event again (two replicas, or a retry after a lost
// ack) stores nothing new.
func TestQueuedEventsArePublishedOnce(t *testing.T) {
	ctx := context.Background()
	log := zaptest.NewLogger(t)
	pool, err := postgres.Open(ctx, testkit.Database(t, migrations.FS), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, testkit.NewClock(t).Now)
	n := testkit.StartNATS(t)
	// The relay publishes as contacts does, with contacts' own user.
	contacts, _ := natsauth.Lookup(natsauth.Contacts)
	nc, js, err := stream.Connect(n.URL(), "test", log, n.ClientOptions(natsauth.Contacts)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := stream.EnsureStreams(ctx, js, stream.Topology{}, contacts.Streams...); err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	ev := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", now),
		Channel: events.ChannelSMS, Address: "+12125550101", Change: events.ConsentOptedOut,
		Source: events.SourceOrganizer, Evidence: "organizer: Sam", At: now,
	}
	if _, err := st.OrganizerOptOut(ctx, ev); err != nil {
		t.Fatal(err)
	}
	// Nothing published it yet: now a relay starts.
	relayCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { outbox.New(st, js, 10*time.Millisecond, log).Loop(relayCtx); close(done) }()
	// The test reads the stream as an operator would.
	anc, admin, err := stream.Connect(n.URL(), "test-admin", log, n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	defer anc.Close()
	cons, err := admin.OrderedConsumer(ctx, events.StreamConsent, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got events.ConsentChanged
	if err := json.Unmarshal(msg.Data(), &got); err != nil || got.ID != ev.ID || msg.Headers().Get(jetstream.MsgIDHeader) != ev.ID {
		t.Fatalf("published %+v (%v), want event %s", got, err, ev.ID)
	}
	cleared := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var left int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM consent_outbox`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the relay never cleared the outbox")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	cleared()
	// The same event queued again, as if a relay published it and died
	// before clearing the outbox: it is published again, and stored once.
	data, _ := json.Marshal(ev)
	if _, err := pool.Exec(ctx, `INSERT INTO consent_outbox (event_id, event, created_at) VALUES ($1, $2, $3)`, ev.ID, string(data), st.Now()); err != nil {
		t.Fatal(err)
	}
	cleared()
	stop()
	<-done
	s, err := js.Stream(ctx, events.StreamConsent)
	if err != nil {
		t.Fatal(err)
	}
	if msgs := s.CachedInfo().State.Msgs; msgs != 1 {
		t.Fatalf("CONSENT holds %d messages, want the one event once", msgs)
	}
}
