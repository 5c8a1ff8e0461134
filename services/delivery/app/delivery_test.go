package app_test

import (
	"context"
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// gated holds each send at a gate until the test lets it through.
type gated struct {
	next    *twilio.Client
	arrived chan string
	release chan struct{}
}

func (g *gated) Send(ctx context.Context, m provider.SMS) (string, error) {
	g.arrived <- m.To
	<-g.release
	return g.next.Send(ctx, m)
}

// A member texts STOP while their message waits in the queue behind
// another: once the STOP webhook has answered, nothing reaches them.
func TestStopWhileQueuedMeansNoSend(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.Workers = 1 }})
	g := &gated{arrived: make(chan string, 10), release: make(chan struct{})}
	h.start(func(cfg twilio.Config) app.Options {
		c, err := twilio.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		g.next = c
		return app.Options{SMS: g}
	})
	other, member := "+12125550111", "+12125550112"
	h.send(other, "First in line")
	queued := h.send(member, "Rally tonight")
	if got := <-g.arrived; got != other {
		t.Fatalf("first send went to %s", got)
	}
	// The worker is busy; the member's request sits in the queue.
	res, err := h.sim.SendReply(context.Background(), sim.Reply{From: member, To: "+15550001111", Body: "STOP"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("STOP = %+v, %v", res, err)
	}
	close(g.release)
	m := h.waitStatus(queued, "suppressed")
	if !strings.Contains(m.Reason, "STOP") {
		t.Errorf("suppressed message's reason = %q, want it to name the STOP", m.Reason)
	}
	if n := h.sim.SentTo(member); n != 0 {
		t.Fatalf("%d texts reached a member after their STOP was answered", n)
	}
	testkit.Eventually(t, "the other member's text", func() bool { return h.sim.SentTo(other) == 1 })

	// The member's conversation shows their STOP and the text held back.
	var conv struct {
		Turns []struct{ Direction, Body, Status, Keyword string } `json:"turns"`
	}
	if code := h.get("/conversations/sms/"+member, &conv); code != 200 || len(conv.Turns) != 2 {
		t.Fatalf("conversation = %d %+v", code, conv.Turns)
	}
	in, out := conv.Turns[0], conv.Turns[1]
	if in.Direction != "inbound" || in.Keyword != "opt_out" || out.Direction != "outbound" || out.Status != "suppressed" {
		t.Errorf("conversation = %+v", conv.Turns)
	}
}

// dies sends, then ends its goroutine without returning: as far as the
// provider and JetStream can tell, the process died after Twilio accepted
// the text and before the request was acknowledged.
type dies struct {
	next *twilio.Client
	died chan struct{}
}

func (d *dies) Send(ctx context.Context, m provider.SMS) (string, error) {
	if _, err := d.next.Send(ctx, m); err != nil {
		return "", err
	}
	close(d.died)
	runtime.Goexit()
	return "", nil
}

func TestCrashAfterProviderAcceptedNeverResends(t *testing.T) {
	h := newHarness(t, setup{
		config:    func(c *app.Config) { c.Workers = 1 },
		simConfig: func(c *sim.Config) { c.AutoCallbacks = false },
	})
	d := &dies{died: make(chan struct{})}
	h.start(func(cfg twilio.Config) app.Options {
		c, err := twilio.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d.next = c
		return app.Options{SMS: d}
	})
	member := "+12125550121"
	key := h.send(member, "Vote Thursday")
	<-d.died
	h.stop()
	if m, _ := h.message(key); m.Status != "" && m.Status != "sending" {
		t.Logf("status at the crash: %s", m.Status)
	}

	// A new process takes over. JetStream redelivers the unacked request
	// after AckWait; the log says sending, so the outcome is unknown and
	// the text is not sent again.
	h.start(nil)
	m := h.waitStatus(key, "unknown")
	never(t, "a second send", func() bool { return h.sim.SentTo(member) > 1 }, time.Second)
	// Twilio's callback, which carries our message id, settles it.
	out := h.sim.Outbox()
	if len(out) != 1 {
		t.Fatalf("outbox = %d messages, want 1", len(out))
	}
	if code, err := h.sim.SendStatusCallback(context.Background(), out[0].Sid, "delivered", ""); err != nil || code != http.StatusNoContent {
		t.Fatalf("callback = %d, %v", code, err)
	}
	m = h.waitStatus(key, "delivered")
	if m.ProviderID != out[0].Sid {
		t.Errorf("provider id = %q, want %q", m.ProviderID, out[0].Sid)
	}
}

// Callbacks reversed, each three times over, racing the send's own result:
// every message ends delivered, sent once.
func TestCallbacksOutOfOrderRepeatedAndEarly(t *testing.T) {
	h := newHarness(t, setup{simConfig: func(c *sim.Config) {
		c.CallbackOrder = sim.CallbackOrder("reversed")
		c.CallbackRepeat = 3
	}})
	h.start(nil)
	var keys []string
	for i := range 20 {
		keys = append(keys, h.send(phone(300+i), "Meeting at 6"))
	}
	for _, k := range keys {
		h.waitStatus(k, "delivered")
	}
	if d := h.sim.Duplicates(); len(d) != 0 {
		t.Fatalf("duplicates: %v", d)
	}
	// A late "sent" long after "delivered" changes nothing.
	out := h.sim.Outbox()
	if _, err := h.sim.SendStatusCallback(context.Background(), out[0].Sid, "sent", ""); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if m, _ := h.message(k); m.Status != "delivered" {
			t.Fatalf("%s moved back to %s", k, m.Status)
		}
	}
}

func phone(n int) string { return "+1212555" + strings.Repeat("0", 4-len(itoa(n))) + itoa(n) }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// At 22:30 in New York a text waits for 08:00: not before, not never.
func TestQuietHoursDeferToMorning(t *testing.T) {
	h := newHarness(t, setup{})
	ny, _ := time.LoadLocation("America/New_York")
	night := h.midday.Add(10*time.Hour + 30*time.Minute) // 22:30
	h.clock.Set(night)
	h.start(nil)
	member := "+12125550131" // 212: New York
	key := h.send(member, "Strike vote tomorrow")
	m := h.waitStatus(key, "queued")
	testkit.Eventually(t, "the deferral", func() bool { m, _ = h.message(key); return m.DeferredUntil != nil })
	y, mo, d := night.Date()
	morning := time.Date(y, mo, d+1, 8, 0, 0, 0, ny)
	if !m.DeferredUntil.Equal(morning) || m.DeferReason != "quiet_hours" {
		t.Fatalf("deferred until %s (%s), want %s for quiet hours", m.DeferredUntil, m.DeferReason, morning)
	}
	// Campaigns hear of the deferral, with the reason.
	deferral := readStatusEvent(t, h, m.ID, "queued")
	if !strings.Contains(deferral.Reason, "quiet hours") {
		t.Errorf("deferral event reason = %q", deferral.Reason)
	}
	h.clock.Set(morning.Add(-time.Minute))
	never(t, "a text at 07:59", func() bool { return h.sim.SentTo(member) > 0 }, 500*time.Millisecond)
	h.clock.Set(morning)
	h.waitStatus(key, "delivered")
	out := h.sim.Outbox()
	// Sent at 08:00, Twilio may hold it at most until the window closes
	// (13 hours, capped at Twilio's 10-hour maximum).
	if len(out) != 1 || out[0].ValidityPeriod != 36000 {
		t.Fatalf("outbox = %+v, want one text with a 36000s validity period", out)
	}
}

// The member's caps hold across campaigns; an urgent alert bypasses the
// cap, never an opt-out.
func TestFrequencyCapDefersAndUrgentBypasses(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.CapPerDay, c.CapPerWeek = 2, 10 }})
	h.start(nil)
	member := "+12125550141"
	first := h.send(member, "one")
	h.waitStatus(first, "delivered")
	h.waitStatus(h.send(member, "two"), "delivered")
	third := h.send(member, "three")
	testkit.Eventually(t, "the third to be held", func() bool { m, _ := h.message(third); return m.DeferReason == "cap" })
	h.waitStatus(h.send(member, "URGENT: site closed", func(r *events.SendRequested) { r.Urgent = true }), "delivered")
	if n := h.sim.SentTo(member); n != 3 {
		t.Fatalf("%d texts sent, want 3 (two under the cap, one urgent)", n)
	}
}

// Carrier and provider answers: a 429 is retried until it goes, 21610
// suppresses like a STOP, 21211 fails for good with the code, 30006 ends
// undelivered, and a timeout after Twilio accepted is never resent.
func TestProviderErrorsClassified(t *testing.T) {
	h := newHarness(t, setup{})
	busy, stopped, invalid, landline, slow := phone(501), phone(502), phone(503), phone(504), phone(505)
	h.sim.SetFaults([]sim.Fault{
		{To: busy, Kind: sim.FaultRateLimited, Count: 2},
		{To: stopped, Kind: sim.FaultUnsubscribed},
		{To: invalid, Kind: sim.FaultInvalidNumber},
		{To: landline, Kind: sim.FaultUndelivered},
		{To: slow, Kind: sim.FaultTimeoutAfterAccept, Count: 1, Hold: 3 * time.Second},
	})
	h.start(nil)
	kBusy, kStopped, kInvalid, kLandline, kSlow := h.send(busy, "a"), h.send(stopped, "b"), h.send(invalid, "c"), h.send(landline, "d"), h.send(slow, "e")

	h.waitStatus(kBusy, "delivered")
	m := h.waitStatus(kStopped, "suppressed")
	if m.ErrorCode != "21610" {
		t.Errorf("21610 recorded as %q", m.ErrorCode)
	}
	var sup struct {
		Suppressions []struct{ Address, Source string } `json:"suppressions"`
	}
	h.get("/suppressions", &sup)
	if len(sup.Suppressions) != 1 || sup.Suppressions[0].Address != stopped || sup.Suppressions[0].Source != events.SourceProvider {
		t.Errorf("suppressions = %+v, want the 21610 number from the provider", sup.Suppressions)
	}
	// The list can be searched by address, wildcards taken literally.
	for q, want := range map[string]int{stopped[len(stopped)-4:]: 1, "999999": 0, "%": 0} {
		var found struct {
			Suppressions []struct{ Address string } `json:"suppressions"`
		}
		h.get("/suppressions?q="+url.QueryEscape(q), &found)
		if len(found.Suppressions) != want {
			t.Errorf("search %q found %d, want %d", q, len(found.Suppressions), want)
		}
	}
	if m := h.waitStatus(kInvalid, "failed"); m.ErrorCode != "21211" {
		t.Errorf("invalid number recorded with code %q", m.ErrorCode)
	}
	if m := h.waitStatus(kLandline, "undelivered"); m.ErrorCode != "30006" {
		t.Errorf("landline recorded with code %q", m.ErrorCode)
	}
	// The timed-out send went out: its callbacks settle it; never resent.
	h.waitStatus(kSlow, "delivered")
	if n := h.sim.SentTo(slow); n != 1 {
		t.Fatalf("timed-out text sent %d times", n)
	}
	if n := h.sim.SentTo(busy); n != 1 {
		t.Fatalf("rate-limited text sent %d times", n)
	}
	// A later campaign to the 21610 number is suppressed before any call.
	h.waitStatus(h.send(stopped, "again"), "suppressed")
	if n := h.sim.SentTo(stopped); n != 0 {
		t.Fatalf("%d texts recorded for a carrier-opted-out number", n)
	}

	// Operators see it all in the metrics. The log shows a message's
	// status a moment before its counter moves and its request is
	// acknowledged, so the metrics are read until they agree.
	wants := []string{
		`delivery_messages_total{channel="sms",provider="twilio",status="suppressed"} 2`,
		`delivery_messages_total{channel="sms",provider="twilio",status="failed"} 1`,
		`delivery_provider_seconds_count{outcome="retryable",provider="twilio"} 2`,
		`delivery_queue_depth{channel="sms"} 0`,
		// Which build answers: always 1, labelled with the build.
		`muster_build_info{goversion="` + runtime.Version() + `",modified=`,
		`",service="delivery",version="`,
		// How far behind each consumer is.
		`muster_jetstream_consumer_pending_messages{consumer="delivery-send",stream="SEND"} 0`,
		`muster_dead_letters{consumer="delivery-send"} 0`,
	}
	var missing []string
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := api().Get("http://" + h.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(string(body), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, m := range missing {
		t.Errorf("metrics lack %s", m)
	}
}

// Requests that can never be sent end failed with the reason; a payload
// that is not a send request at all is dead-lettered where an operator
// can see and retry it.
func TestBadRequestsFailOrDeadLetter(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	if m := h.waitStatus(h.send("555-0101", "hi"), "failed"); !strings.Contains(m.Reason, "E.164") {
		t.Errorf("bad number reason = %q", m.Reason)
	}
	if m := h.waitStatus(h.send(phone(601), strings.Repeat("x", 1601)), "failed"); !strings.Contains(m.Reason, "1600") {
		t.Errorf("long body reason = %q", m.Reason)
	}
	if _, err := h.js.Publish(context.Background(), events.SendSubject(events.ChannelSMS), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	var dls struct {
		DeadLetters []struct {
			ID, Consumer, Error string
		} `json:"dead_letters"`
	}
	testkit.Eventually(t, "the dead letter", func() bool {
		h.get("/dead-letters", &dls)
		return len(dls.DeadLetters) == 1
	})
	if dls.DeadLetters[0].Consumer != "delivery-send" || !strings.Contains(dls.DeadLetters[0].Error, "decoding") {
		t.Errorf("dead letter = %+v", dls.DeadLetters[0])
	}
	resp, err := api().Post("http://"+h.addr+"/dead-letters/"+dls.DeadLetters[0].ID+"/retry", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("retry = %d", resp.StatusCode)
	}
	// The retry went back to the send consumer (on delivery.retry.sms),
	// which dead-letters it again.
	testkit.Eventually(t, "the retried request dead-lettered again", func() bool {
		h.get("/dead-letters", &dls)
		return len(dls.DeadLetters) == 2
	})
	if len(h.sim.Outbox()) != 0 {
		t.Fatal("a bad request reached the provider")
	}
}

// An organizer's opt-out, published by contacts, reaches the suppression
// list; an event claiming to re-subscribe the address does not lift it.
func TestOrganizerOptOutSuppresses(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := phone(701)
	publish := func(change string) {
		ev := events.ConsentChanged{
			Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", time.Now()),
			Channel: events.ChannelSMS, Address: member, Change: change, Source: events.SourceOrganizer,
			Evidence: "opted out by organizer ana@union.org at the member's request", At: time.Now(),
		}
		if err := stream.Publish(context.Background(), h.js, events.SubjectConsentChanged, ev.ID, ev); err != nil {
			t.Fatal(err)
		}
	}
	publish(events.ConsentOptedOut)
	publish(events.ConsentResubscribe)
	var seen atomic.Bool
	testkit.Eventually(t, "the suppression", func() bool {
		var sup struct {
			Suppressions []struct{ Address string } `json:"suppressions"`
		}
		h.get("/suppressions", &sup)
		seen.Store(len(sup.Suppressions) == 1 && sup.Suppressions[0].Address == member)
		return seen.Load()
	})
	h.waitStatus(h.send(member, "hello"), "suppressed")
}

// readStatusEvent finds a message's change to status on the MESSAGES
// stream, announced alone or in a batch.
func readStatusEvent(t *testing.T, h *harness, messageID, status string) events.StatusChange {
	t.Helper()
	s, err := h.js.Stream(context.Background(), events.StreamMessages)
	if err != nil {
		t.Fatal(err)
	}
	var found events.StatusChange
	testkit.Eventually(t, "status event "+messageID+" "+status, func() bool {
		info, err := s.Info(context.Background())
		if err != nil {
			return false
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			raw, err := s.GetMsg(context.Background(), seq)
			if err != nil {
				continue
			}
			var changes []events.StatusChange
			switch {
			case raw.Subject == events.SubjectStatuses:
				var ev events.StatusesChanged
				if json.Unmarshal(raw.Data, &ev) == nil {
					changes = ev.Changes
				}
			case strings.HasPrefix(raw.Subject, events.SubjectStatusPrefix):
				var ev events.StatusChanged
				if json.Unmarshal(raw.Data, &ev) == nil {
					changes = []events.StatusChange{ev.StatusChange}
				}
			}
			for _, c := range changes {
				if c.MessageID == messageID && c.Status == status {
					found = c
					return true
				}
			}
		}
		return false
	})
	return found
}
