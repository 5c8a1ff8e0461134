package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/contacts/app"
	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

func start(t *testing.T) (string, *testkit.NATS) {
	t.Helper()
	url, ns, _ := startWithDB(t)
	return url, ns
}

// startWithDB is start, also returning the service's database URL. The
// service connects to NATS as its own user.
func startWithDB(t *testing.T) (string, *testkit.NATS, string) {
	t.Helper()
	a, ns, dsn := startApp(t)
	return a.URL(), ns, dsn
}

// startApp runs contacts on a database and NATS server of its own,
// trusting the test caller, and returns it with the NATS server and the
// database URL.
func startApp(t *testing.T) (*app.App, *testkit.NATS, string) {
	t.Helper()
	n := testkit.StartNATS(t)
	cfg := app.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.TrustedCallers = svcauthtest.Trusted()
	cfg.ErasureKey = "contacts-erasure-key-for-these-tests-0123456789"
	cfg.DatabaseURL = testkit.Database(t, migrations.FS)
	cfg.NATSURL, cfg.NATSSeed = n.URL(), n.Seed(natsauth.Contacts)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, zaptest.NewLogger(t), app.Options{Clock: testkit.NewClock(t).Now})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a, n, cfg.DatabaseURL
}

func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := api().Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func TestCreateValidatesAndNormalizes(t *testing.T) {
	url, _ := start(t)
	code, body := post(t, url+"/contacts", map[string]any{"first_name": "Ana", "phone": "(212) 555-0134", "email": "Ana@Local.ORG", "tags": []string{"Night"}})
	if code != 201 || body["phone"] != "+12125550134" || body["email"] != "ana@local.org" {
		t.Fatalf("create = %d %v", code, body)
	}
	code, body = post(t, url+"/contacts", map[string]any{"first_name": "Bo", "phone": "555-CALL-NOW"})
	if code != 400 || body["field"] != "phone" {
		t.Errorf("bad phone = %d %v, want 400 naming phone", code, body)
	}
	code, body = post(t, url+"/contacts", map[string]any{"first_name": "Cy", "phone": "212 555 0134"})
	if code != 409 || body["field"] != "phone" {
		t.Errorf("duplicate phone = %d %v, want 409 naming phone", code, body)
	}
	code, _ = post(t, url+"/contacts", map[string]any{"first_name": "Di", "phone": "2125550135", "shoe_size": 9})
	if code != 400 {
		t.Errorf("unknown field = %d, want 400", code)
	}
}

func TestAudienceExcludesOptedOutAndAppliesConsentOnce(t *testing.T) {
	url, ns := start(t)
	phones := []string{"2125550101", "2125550102", "2125550103"}
	for i, p := range phones {
		code, body := post(t, url+"/contacts", map[string]any{"first_name": []string{"Ana", "Bo", "Cy"}[i], "phone": p, "tags": []string{"rally"}})
		if code != 201 {
			t.Fatalf("create %s = %d %v", p, code, body)
		}
	}
	post(t, url+"/contacts", map[string]any{"first_name": "Other", "phone": "2125550199", "tags": []string{"other"}})

	nc, js, err := stream.Connect(ns.URL(), "test", zaptest.NewLogger(t), ns.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	page := func(limit int, after string) events.AudiencePage {
		t.Helper()
		req, _ := json.Marshal(events.AudiencePageRequest{Tag: "rally", Channel: events.ChannelSMS, Limit: limit, After: after})
		msg, err := nc.Request(events.SubjectAudiencePage, req, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var p events.AudiencePage
		if err := json.Unmarshal(msg.Data, &p); err != nil || p.Error != "" {
			t.Fatalf("page: %v %q", err, p.Error)
		}
		return p
	}
	first := page(2, "")
	second := page(2, first.Next)
	if len(first.Members) != 2 || first.Next == "" || len(second.Members) != 1 || second.Next != "" {
		t.Fatalf("pages = %+v / %+v", first, second)
	}

	// The same STOP delivered three times is one ledger entry.
	at := testkit.NewClock(t).Now() // the service's clock, shifted as it is
	stop := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", at),
		Channel: events.ChannelSMS, Address: "+12125550102", Change: events.ConsentOptedOut,
		Source: events.SourceInboundSMS, Evidence: "STOP", At: at,
	}
	for range 3 {
		data, _ := json.Marshal(stop)
		// Published without a msg id so the broker keeps all three copies.
		if _, err := js.Publish(context.Background(), events.SubjectConsentChanged, data); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p := page(10, "")
		if len(p.Members) == 2 {
			for _, m := range p.Members {
				if m.Phone == "+12125550102" {
					t.Fatalf("opted-out member still in audience")
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("opt-out not applied: %d members", len(p.Members))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var id string
	for _, m := range first.Members {
		if m.Phone == "+12125550102" {
			id = m.ContactID
		}
	}
	for _, m := range second.Members {
		if m.Phone == "+12125550102" {
			id = m.ContactID
		}
	}
	// Give any stray redelivery time to (wrongly) land before counting.
	time.Sleep(200 * time.Millisecond)
	resp, err := api().Get(url + "/contacts/" + id + "/consent")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var hist struct {
		History []map[string]any `json:"history"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&hist); err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, h := range hist.History {
		changes = append(changes, fmt.Sprint(h["change"], ":", h["source"], ":", h["evidence"]))
	}
	if len(changes) != 2 || changes[0] != "subscribed:api:created through the contacts API by test" && changes[1] != "subscribed:api:created through the contacts API by test" ||
		!slices.Contains(changes, "opted_out:inbound_sms:STOP") {
		t.Fatalf("ledger = %q, want the creation's opt-in evidence and exactly one STOP entry", changes)
	}
}
