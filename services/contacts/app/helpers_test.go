package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// api is an HTTP client that calls contacts as the test caller, whom the
// services these tests start trust.
func api() *http.Client { return svcauthtest.Client("contacts") }

// call sends a JSON request (body nil for none) and decodes a JSON answer
// into out when out is not nil; it returns the status and the raw body.
func call(t *testing.T, method, url string, body, out any) (int, string) {
	t.Helper()
	code, raw := testkit.CallService(t, "contacts", method, url, body, out)
	return code, string(raw)
}

type contactJSON struct {
	ID         string            `json:"id"`
	MemberID   string            `json:"member_id"`
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Phone      string            `json:"phone"`
	Email      string            `json:"email"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
}

func mustCreate(t *testing.T, url string, body map[string]any) contactJSON {
	t.Helper()
	var c contactJSON
	if code, raw := call(t, "POST", url+"/contacts", body, &c); code != http.StatusCreated {
		t.Fatalf("create %v = %d %s", body, code, raw)
	}
	return c
}

// bus is a test's own connection to the service's NATS server.
type bus struct {
	t  *testing.T
	nc *nats.Conn
	js jetstream.JetStream
}

// connect connects as the admin user, to publish as any service would.
func connect(t *testing.T, ns *testkit.NATS) *bus {
	t.Helper()
	nc, js, err := stream.Connect(ns.URL(), "test", zaptest.NewLogger(t), ns.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &bus{t: t, nc: nc, js: js}
}

// page asks for one audience page the way campaigns does.
func (b *bus) page(req events.AudiencePageRequest) events.AudiencePage {
	b.t.Helper()
	data, _ := json.Marshal(req)
	msg, err := b.nc.Request(events.SubjectAudiencePage, data, 10*time.Second)
	if err != nil {
		b.t.Fatal(err)
	}
	var p events.AudiencePage
	if err := json.Unmarshal(msg.Data, &p); err != nil {
		b.t.Fatal(err)
	}
	return p
}

// audience pages through a whole audience and returns the members' first
// names in contact id order.
func (b *bus) audience(req events.AudiencePageRequest) []string {
	b.t.Helper()
	var names []string
	for range 100 {
		p := b.page(req)
		if p.Error != "" {
			b.t.Fatalf("audience %+v: %s", req, p.Error)
		}
		for _, m := range p.Members {
			names = append(names, m.FirstName)
		}
		if p.Next == "" {
			return names
		}
		req.After = p.Next
	}
	b.t.Fatal("audience paging does not end")
	return nil
}

// publish stores a consent event in JetStream without a message id, so
// every copy is kept and redelivered to contacts.
func (b *bus) publish(ev events.ConsentChanged) {
	b.t.Helper()
	data, _ := json.Marshal(ev)
	if _, err := b.js.Publish(context.Background(), events.SubjectConsentChanged, data); err != nil {
		b.t.Fatal(err)
	}
}

// drained waits until contacts' consent consumer has acknowledged
// everything in the CONSENT stream. The deadline only stops a broken
// service from hanging the test.
func (b *bus) drained() {
	b.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := b.js.Stream(ctx, events.StreamConsent)
		if err != nil {
			b.t.Fatal(err)
		}
		c, err := s.Consumer(ctx, "contacts-consent")
		if err != nil {
			b.t.Fatal(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			b.t.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == s.CachedInfo().State.LastSeq {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("consent consumer not drained: %+v", info)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func consentChange(ch events.Channel, addr, change, source, evidence string, at time.Time) events.ConsentChanged {
	return events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", at),
		Channel: ch, Address: addr, Change: change, Source: source, Evidence: evidence, At: at,
	}
}

type consentJSON struct {
	// OptInEvidence counts the ledger's creation entries consentOf took
	// out of History.
	OptInEvidence int `json:"-"`
	Current       []struct {
		Channel, Address, Status, Source string
	} `json:"current"`
	History []struct {
		EventID  string `json:"event_id"`
		Channel  string `json:"channel"`
		Address  string `json:"address"`
		Change   string `json:"change"`
		Source   string `json:"source"`
		Evidence string `json:"evidence"`
		Reason   string `json:"reason"`
	} `json:"history"`
}

func consentOf(t *testing.T, url, id string) consentJSON {
	t.Helper()
	var c consentJSON
	if code, raw := call(t, "GET", url+"/contacts/"+id+"/consent", nil, &c); code != 200 {
		t.Fatalf("consent = %d %s", code, raw)
	}
	// Each address of a contact created through the API starts with its
	// opt-in evidence; the tests that use this read the changes after it.
	kept := c.History[:0]
	for _, h := range c.History {
		if h.Change == events.ConsentSubscribed && h.Source == events.SourceAPI {
			c.OptInEvidence++
			continue
		}
		kept = append(kept, h)
	}
	c.History = kept
	return c
}

func (c consentJSON) status(ch string) string {
	for _, s := range c.Current {
		if s.Channel == ch {
			return s.Status
		}
	}
	return ""
}
