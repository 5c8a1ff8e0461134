package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// campaign publishes n send requests to distinct members and returns the
// keys and numbers.
func (h *harness) sendMany(from, n int) ([]string, []string) {
	keys, phones := make([]string, n), make([]string, n)
	for i := range n {
		phones[i] = phone(from + i)
		keys[i] = h.send(phones[i], "Contract vote Thursday. Reply STOP to opt out.")
	}
	return keys, phones
}

// accountFor checks the invariants after a fault: every message ended in
// exactly one terminal state (delivered here: the simulator delivers
// everything), each member got exactly one text, and nothing went twice.
func (h *harness) accountFor(keys, phones []string) {
	h.t.Helper()
	for _, k := range keys {
		h.waitStatus(k, "delivered")
	}
	for _, p := range phones {
		if n := h.sim.SentTo(p); n != 1 {
			h.t.Fatalf("%s got %d texts, want 1", p, n)
		}
	}
	if d := h.sim.Duplicates(); len(d) != 0 {
		h.t.Fatalf("duplicates: %v", d)
	}
}

func (h *harness) ready() int {
	resp, err := http.Get("http://" + h.addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestFaultNATSRestartMidCampaign(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	k1, p1 := h.sendMany(1000, 100)
	h.nats.Stop()
	time.Sleep(300 * time.Millisecond)
	h.nats.Start()
	k2, p2 := h.sendMany(1100, 100)
	h.accountFor(append(k1, k2...), append(p1, p2...))
}

func TestFaultRedisStoppedFailsClosed(t *testing.T) {
	redis := testkit.PrivateRedis(t)
	h := newHarness(t, setup{redisURL: redis.URL(), config: func(c *appConfig) { c.SenderRate = 1000 }})
	h.start(nil)
	k1, p1 := h.sendMany(2000, 50)
	for _, k := range k1 {
		h.waitStatus(k, "delivered")
	}
	redis.Stop()
	k2, p2 := h.sendMany(2100, 50)
	// No rate-limit decision, no send: the requests wait, nothing drops.
	never(t, "a send without Redis", func() bool { return h.sim.Count() > 50 }, 2*time.Second)
	if code := h.ready(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with Redis down = %d, want 503", code)
	}
	redis.Start()
	h.accountFor(append(k1, k2...), append(p1, p2...))
	if code := h.ready(); code != http.StatusOK {
		t.Errorf("readyz after Redis came back = %d", code)
	}
}

func TestFaultPostgresStoppedFailsClosed(t *testing.T) {
	pg := testkit.PrivatePostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := testkit.NewDatabase(ctx, pg.AdminURL(), migrationsFS)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, setup{dbURL: dsn})
	h.start(nil)
	k1, p1 := h.sendMany(3000, 50)
	for _, k := range k1 {
		h.waitStatus(k, "delivered")
	}
	pg.Stop()
	k2, p2 := h.sendMany(3100, 50)
	never(t, "a send without PostgreSQL", func() bool { return h.sim.Count() > 50 }, 2*time.Second)
	if code := h.ready(); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with PostgreSQL down = %d, want 503", code)
	}
	// A member's STOP while the database is down is refused with a 5xx, so
	// Twilio retries it; it is not acknowledged and lost.
	res, err := h.sim.SendReply(ctx, simReply(p2[0], "STOP"))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode < 500 {
		t.Errorf("STOP with the database down answered %d, want a 5xx", res.StatusCode)
	}
	pg.Start()
	h.accountFor(append(k1, k2...), append(p1, p2...))
}

// Consent events published while delivery is down are applied when it
// comes back: the CONSENT stream keeps them.
func TestConsentWaitsForDelivery(t *testing.T) {
	h := newHarness(t, setup{})
	member := phone(4001)
	ev := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", time.Now()),
		Channel: events.ChannelSMS, Address: member, Change: events.ConsentOptedOut, Source: events.SourceOrganizer, At: time.Now(),
	}
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Publish(context.Background(), h.js, events.SubjectConsentChanged, ev.ID, ev); err != nil {
		t.Fatal(err)
	}
	h.start(nil)
	testkit.Eventually(t, "the opt-out", func() bool {
		var sup struct {
			Suppressions []struct{ Address string } `json:"suppressions"`
		}
		h.get("/suppressions", &sup)
		return len(sup.Suppressions) == 1
	})
}

// A STOP answered while NATS is down is not lost on its way to the
// consent ledger: the event waits in the outbox, written in the same
// transaction as the suppression, and goes out when NATS is back.
func TestFaultConsentSurvivesNATSOutage(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := phone(5001)
	h.nats.Stop()
	res, err := h.sim.SendReply(context.Background(), simReply(member, "STOP"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("STOP with NATS down = %+v, %v", res, err)
	}
	if !suppressed(h, member) {
		t.Fatal("STOP not suppressed while NATS was down")
	}
	h.nats.Start()
	s, err := h.js.Stream(context.Background(), events.StreamConsent)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the consent event after NATS came back", func() bool {
		m, err := s.GetLastMsgForSubject(context.Background(), events.SubjectConsentChanged)
		if err != nil {
			return false
		}
		var ev events.ConsentChanged
		return json.Unmarshal(m.Data, &ev) == nil && ev.Address == member && ev.Change == events.ConsentOptedOut
	})
}
