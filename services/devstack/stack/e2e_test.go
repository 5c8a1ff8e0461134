package stack_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

func startStack(t *testing.T, autoCallbacks bool) *stack.Stack {
	t.Helper()
	st, err := stack.Start(context.Background(), stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB:   testkit.Database(t, deliverydb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		AutoCallbacks: autoCallbacks, RedisPrefix: redisPrefix(t), DeliveryOptions: delivery.Options{Clock: middayClock(t)},
		Callers: svcauthtest.Trusted(), Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	return st
}

// call makes a JSON request to the service named service, as the test
// caller the stack trusts, and decodes the answer into out (if not nil).
func call(t testing.TB, service, method, url string, body, out any) int {
	t.Helper()
	code, _ := testkit.CallService(t, service, method, url, body, out)
	return code
}

type message struct {
	ID         string `json:"id"`
	To         string `json:"to"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	ProviderID string `json:"provider_id"`
}

func messages(t *testing.T, st *stack.Stack, campaignID string) map[string]message {
	t.Helper()
	var out struct {
		Messages []message `json:"messages"`
	}
	if code := call(t, "delivery", "GET", st.DeliveryURL+"/messages?campaign_id="+campaignID, nil, &out); code != 200 {
		t.Fatalf("message log = %d", code)
	}
	byTo := map[string]message{}
	for _, m := range out.Messages {
		if _, dup := byTo[m.To]; dup {
			t.Fatalf("two messages to %s in one campaign", m.To)
		}
		byTo[m.To] = m
	}
	return byTo
}

func outboxTo(s *sim.Server, to, direction string) []sim.Message {
	var out []sim.Message
	for _, m := range s.Outbox() {
		if m.To == to && m.Direction == direction {
			out = append(out, m)
		}
	}
	return out
}

func createCampaign(t *testing.T, st *stack.Stack, name, body string) string {
	t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns", map[string]any{
		"name": name, "channel": "sms", "body": body, "audience": map[string]string{"tag": "rally"},
	}, &c)
	if code != 201 {
		t.Fatalf("create campaign = %d", code)
	}
	return c.ID
}

// TestWalkingSkeleton is the story of issue 2, end to end through every
// real part: three members get a rendered text, a second launch sends
// nothing again, a STOP suppresses before the webhook answers, the next
// campaign skips the stopped member, callbacks only move status forward,
// and forged or malformed webhooks change nothing.
func TestWalkingSkeleton(t *testing.T) {
	st := startStack(t, false)
	phones := map[string]string{"Ana": "+12125550101", "Bo": "+12125550102", "Cy": "+12125550103"}
	for name, phone := range phones {
		local := strings.TrimPrefix(phone, "+1")
		typed := fmt.Sprintf("(%s) %s-%s", local[:3], local[3:6], local[6:])
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": name, "phone": typed, "tags": []string{"rally"}}, nil); code != 201 {
			t.Fatalf("create %s = %d", name, code)
		}
	}

	// Bad input is refused, naming what is wrong, and stores nothing.
	var bad struct{ Field, Error string }
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "X", "phone": "not a phone"}, &bad); code != 400 || bad.Field != "phone" {
		t.Errorf("bad phone = %d %+v, want 400 naming phone", code, bad)
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns", map[string]any{
		"name": "typo", "body": "Hi {{frist_name}}", "audience": map[string]string{"tag": "rally"},
	}, &bad); code != 400 || !strings.Contains(bad.Error, "frist_name") {
		t.Errorf("unknown merge field = %d %+v, want 400 naming it", code, bad)
	}

	first := createCampaign(t, st, "Rally", "Hi {{first_name}}, rally Friday 5pm at City Hall. Reply STOP to opt out.")
	var launch struct {
		AlreadyLaunched bool `json:"already_launched"`
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+first+"/launch", nil, &launch); code != 202 || launch.AlreadyLaunched {
		t.Fatalf("launch = %d %+v", code, launch)
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+first+"/launch", nil, &launch); code != 200 || !launch.AlreadyLaunched {
		t.Fatalf("second launch = %d %+v, want 200 already launched", code, launch)
	}

	testkit.Eventually(t, "three accepted messages", func() bool {
		n := 0
		for _, m := range messages(t, st, first) {
			if m.Status == "accepted" {
				n++
			}
		}
		return n == 3
	})
	for name, phone := range phones {
		got := outboxTo(st.Sim, phone, "outbound-api")
		want := "Hi " + name + ", rally Friday 5pm at City Hall. Reply STOP to opt out."
		if len(got) != 1 || got[0].Body != want {
			t.Fatalf("outbox for %s = %+v, want one %q", name, got, want)
		}
	}

	// A send request redelivered long after the broker's dedupe window
	// (simulated by publishing it under a fresh msg id) is not sent again:
	// delivery's log is keyed by the idempotency key.
	// Published as campaigns would, with its own user.
	opts, err := st.NATSOptions(natsauth.Campaigns)
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := stream.Connect(st.NATSURL, "test", zaptest.NewLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var anaContact string
	var list struct {
		Contacts []struct{ ID, Phone string } `json:"contacts"`
	}
	call(t, "contacts", "GET", st.ContactsURL+"/contacts?tag=rally", nil, &list)
	for _, c := range list.Contacts {
		if c.Phone == phones["Ana"] {
			anaContact = c.ID
		}
	}
	key := events.IdempotencyKey(first, 0, anaContact, events.ChannelSMS)
	again := events.SendRequested{
		Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: 1, OccurredAt: time.Now()},
		IdempotencyKey: key, CampaignID: first, ContactID: anaContact, Channel: events.ChannelSMS,
		To: phones["Ana"], Body: "Hi Ana, rally Friday 5pm at City Hall. Reply STOP to opt out.",
	}
	if err := stream.Publish(context.Background(), js, events.SendSubject(events.ChannelSMS), "redelivered-"+key, again); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "redelivered request to be consumed", func() bool {
		s, err := js.Stream(context.Background(), events.StreamSend)
		if err != nil {
			return false
		}
		info, err := s.Info(context.Background())
		return err == nil && info.State.Msgs == 0
	})
	if n := len(outboxTo(st.Sim, phones["Ana"], "outbound-api")); n != 1 {
		t.Fatalf("Ana got %d texts after a redelivery, want 1", n)
	}

	// Status callbacks: in order for Ana; out of order for Bo (delivered
	// before sent, and delivered repeated) must leave Bo delivered.
	log := messages(t, st, first)
	fire := func(who, status string) {
		t.Helper()
		code, err := st.Sim.SendStatusCallback(context.Background(), log[phones[who]].ProviderID, status, "")
		if err != nil || code != http.StatusNoContent {
			t.Fatalf("callback %s for %s = %d, %v", status, who, code, err)
		}
	}
	fire("Ana", "sent")
	fire("Ana", "delivered")
	fire("Bo", "delivered")
	fire("Bo", "sent")
	fire("Bo", "delivered")
	log = messages(t, st, first)
	if log[phones["Ana"]].Status != "delivered" || log[phones["Bo"]].Status != "delivered" {
		t.Fatalf("after callbacks: Ana %s, Bo %s; want both delivered", log[phones["Ana"]].Status, log[phones["Bo"]].Status)
	}

	// A forged callback is refused with 403 and moves nothing.
	form := url.Values{"MessageSid": {log[phones["Cy"]].ProviderID}, "MessageStatus": {"failed"}, "AccountSid": {sim.DefaultAccountSID}}
	req, _ := http.NewRequest("POST", st.DeliveryURL+"/webhooks/twilio/status?message_id="+log[phones["Cy"]].ID, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", "Zm9yZ2VkIHNpZ25hdHVyZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged callback = %d, want 403", resp.StatusCode)
	}
	// A malformed webhook (JSON where Twilio posts a form) is a 4xx.
	resp, err = http.Post(st.DeliveryURL+"/webhooks/twilio/inbound", "application/json", strings.NewReader(`{"Body":"STOP"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("malformed webhook = %d, want 4xx", resp.StatusCode)
	}
	if got := messages(t, st, first)[phones["Cy"]].Status; got != "accepted" {
		t.Errorf("Cy's status after forged callback = %s, want accepted", got)
	}

	// Cy texts STOP. The number is suppressed before the webhook answers,
	// and exactly one confirmation goes back.
	res, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones["Cy"], To: "+15550001111", Body: "Stop"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("STOP webhook = %+v, %v", res, err)
	}
	var sup struct {
		Suppressions []struct{ Address, Source string } `json:"suppressions"`
	}
	call(t, "delivery", "GET", st.DeliveryURL+"/suppressions", nil, &sup)
	if len(sup.Suppressions) != 1 || sup.Suppressions[0].Address != phones["Cy"] {
		t.Fatalf("suppressions right after the STOP answered = %+v", sup.Suppressions)
	}
	if got := outboxTo(st.Sim, phones["Cy"], "outbound-reply"); len(got) != 1 || !strings.Contains(got[0].Body, "unsubscribed") {
		t.Fatalf("STOP confirmations = %+v, want one", got)
	}
	// A second STOP is recorded but not confirmed again.
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones["Cy"], To: "+15550001111", Body: "STOP"}); err != nil {
		t.Fatal(err)
	}
	if got := outboxTo(st.Sim, phones["Cy"], "outbound-reply"); len(got) != 1 {
		t.Fatalf("after a second STOP, %d confirmations, want 1", len(got))
	}

	// Any other reply is published as an inbound event and counted as a
	// reply to the campaign it answers.
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones["Ana"], To: "+15550001111", Body: "Can I bring my kids?"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the reply to reach campaign results", func() bool {
		var r struct {
			Replies  int            `json:"replies"`
			OptOuts  int            `json:"opt_outs"`
			ByStatus map[string]int `json:"by_status"`
		}
		call(t, "campaigns", "GET", st.CampaignsURL+"/campaigns/"+first+"/results", nil, &r)
		return r.Replies == 3 && r.OptOuts == 2 && r.ByStatus["delivered"] == 2 && r.ByStatus["accepted"] == 1
	})

	// The next campaign to the same audience skips Cy, and the log says
	// why.
	second := createCampaign(t, st, "Reminder", "{{first_name|Friend}}, see you Friday!")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+second+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch second = %d", code)
	}
	testkit.Eventually(t, "second campaign's two texts", func() bool {
		log := messages(t, st, second)
		return log[phones["Ana"]].Status == "accepted" && log[phones["Bo"]].Status == "accepted"
	})
	if got := outboxTo(st.Sim, phones["Cy"], "outbound-api"); len(got) != 1 {
		t.Fatalf("Cy got %d campaign texts in all, want only the first", len(got))
	}
	if got := outboxTo(st.Sim, phones["Ana"], "outbound-api"); len(got) != 2 || got[1].Body != "Ana, see you Friday!" {
		t.Fatalf("Ana's texts = %+v", got)
	}
}

// redisPrefix gives a test its own keys on the real Redis.
func redisPrefix(t testing.TB) string {
	_, prefix := testkit.Redis(t)
	return prefix
}

// middayClock runs time forward from noon today in New York (today by
// the test clock, so MUSTER_TEST_CLOCK_SHIFT moves it), so tests that are
// not about quiet hours send whatever the hour on the machine.
func middayClock(t testing.TB) func() time.Time {
	c := testkit.NewClock(t)
	c.SetMidday(t, "America/New_York")
	return c.Now
}
