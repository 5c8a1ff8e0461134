package receive_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/receive"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

const (
	authToken = "test-auth-token-0123456789abcdef"
	// publicURL is the base URL Twilio was given; signatures are made and
	// checked against it, whatever address the test server has.
	publicURL = "https://muster.example.org"
	member    = "+12125550142"
	ourNumber = "+15550001111"
	optInText = "You are resubscribed."
)

// testClock is the receiver's time, moved by the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type nopPublisher struct{}

func (nopPublisher) Status(context.Context, store.Message) {}

func (nopPublisher) Statuses(context.Context, []store.Message) {}

// testSettings are the organization's replies, in English and Spanish.
func testSettings() settings.Settings {
	return settings.Settings{
		OrgName: "Local 7", SendWindow: "08:00-21:00", TimeZone: "America/New_York",
		HelpText: "Help. Reply STOP to opt out.", OptOutText: "You are unsubscribed.", OptInText: optInText,
		HelpTextES: "Ayuda. Responda ALTO.", OptOutTextES: "Ya no recibirá mensajes.", OptInTextES: "Volverá a recibir mensajes.",
		JoinWords: "JOIN, UNETE", JoinText: "Welcome!", JoinTextES: "¡Bienvenido!",
	}
}

// inboundEnv is delivery's Twilio inbound webhook on a fresh database,
// with the real receiver and store behind it.
type inboundEnv struct {
	t     *testing.T
	st    *store.Store
	pool  *pgxpool.Pool
	clock *testClock
	url   string
}

func newInboundEnv(t *testing.T) *inboundEnv {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testkit.Database(t, migrations.FS), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &inboundEnv{t: t, pool: pool, clock: &testClock{now: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}}
	e.st = store.New(pool, e.clock.Now)
	rules, err := settings.Parse(testSettings())
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	recv := receive.New(e.st, nopPublisher{}, func() settings.Rules { return rules }, e.clock.Now, log)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go recv.RunBatches(ctx)
	r := chi.NewRouter()
	twilio.NewWebhooks(authToken, publicURL, recv, log).Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// signedInbound is an inbound webhook exactly as Twilio would post it:
// what an attacker who captured one holds, signature and all.
type signedInbound struct {
	body, signature string
}

func sign(params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(publicURL + twilio.InboundPath)
	for _, k := range keys {
		b.WriteString(k + params.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func inbound(sid, body string) signedInbound {
	p := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {"AC0123"},
		"From": {member}, "To": {ourNumber}, "Body": {body}, "NumMedia": {"0"}, "SmsStatus": {"received"},
	}
	return signedInbound{body: p.Encode(), signature: sign(p)}
}

// post sends a webhook and returns the TwiML answer.
func (e *inboundEnv) post(in signedInbound) string {
	e.t.Helper()
	code, answer := e.postStatus(in)
	if code != http.StatusOK {
		e.t.Fatalf("webhook answered %d: %s", code, answer)
	}
	return answer
}

func (e *inboundEnv) suppressed() bool {
	e.t.Helper()
	ok, err := e.st.IsSuppressed(context.Background(), string(events.ChannelSMS), member)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// A captured, signed START replayed after the member's newer STOP changes
// nothing: the MessageSid was claimed the first time, so the replay is
// answered as before and the suppression stays.
func TestReplayedStartLeavesNewerStop(t *testing.T) {
	e := newInboundEnv(t)
	e.post(inbound("SM00000000000000000000000000000001", "STOP"))
	e.clock.Advance(time.Minute)
	start := inbound("SM00000000000000000000000000000002", "START")
	if answer := e.post(start); !strings.Contains(answer, optInText) || e.suppressed() {
		t.Fatalf("a fresh START did not resubscribe: answer %q, suppressed %v", answer, e.suppressed())
	}
	e.clock.Advance(time.Minute)
	e.post(inbound("SM00000000000000000000000000000003", "STOP"))
	if !e.suppressed() {
		t.Fatal("STOP did not suppress")
	}

	e.clock.Advance(time.Hour)
	e.post(start) // the replay: same MessageSid, same signature
	if !e.suppressed() {
		t.Fatal("a replayed START lifted the member's newer STOP")
	}
}

// A START that delivery first received before the member's STOP, but
// whose handling finished only after it (the first try died after its
// claim, and Twilio retried), does not lift the STOP; a START received
// after the STOP does.
func TestStartOlderThanStopDoesNotLiftIt(t *testing.T) {
	for _, tc := range []struct {
		name         string
		stopBeforeIt bool // the member was already opted out, so the STOP renews the entry
	}{
		{name: "new suppression"},
		{name: "renewed suppression", stopBeforeIt: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newInboundEnv(t)
			ctx := context.Background()
			if tc.stopBeforeIt {
				e.post(inbound("SM10000000000000000000000000000001", "STOP"))
				e.clock.Advance(time.Minute)
			}
			// The START's first delivery is claimed, then the process dies.
			early := "SM10000000000000000000000000000002"
			_, err := e.st.ClaimInbound(ctx, store.Inbound{
				ProviderID: early, Channel: string(events.ChannelSMS), From: member, To: ourNumber, Body: "START",
			}, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
			e.post(inbound("SM10000000000000000000000000000003", "STOP"))

			e.clock.Advance(time.Minute)
			if answer := e.post(inbound(early, "START")); strings.Contains(answer, optInText) {
				t.Errorf("the late START was confirmed: %q", answer)
			}
			if !e.suppressed() {
				t.Fatal("a START received before the STOP lifted it")
			}

			e.clock.Advance(time.Minute)
			if answer := e.post(inbound("SM10000000000000000000000000000004", "START")); !strings.Contains(answer, optInText) || e.suppressed() {
				t.Fatalf("a START after the STOP did not resubscribe: answer %q", answer)
			}
		})
	}
}

// A STOP whose first delivery died after its claim is still acted on when
// Twilio retries: claiming first must never lose an opt-out.
func TestRetriedStopAfterClaimStillSuppresses(t *testing.T) {
	e := newInboundEnv(t)
	sid := "SM20000000000000000000000000000001"
	_, err := e.st.ClaimInbound(context.Background(), store.Inbound{
		ProviderID: sid, Channel: string(events.ChannelSMS), From: member, To: ourNumber, Body: "STOP",
	}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	first := e.post(inbound(sid, "STOP"))
	if !e.suppressed() || !strings.Contains(first, "unsubscribed") {
		t.Fatalf("a retried STOP did not suppress and confirm: %q", first)
	}
	// Once handled, the same STOP again is answered the same way.
	if again := e.post(inbound(sid, "STOP")); again != first {
		t.Errorf("repeat answered %q, first %q", again, first)
	}
}
