package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// harness runs delivery in-process against real PostgreSQL, Redis and an
// embedded NATS server, sending through the real twilio-go client to the
// provider simulator. A test can stop delivery and start it again on the
// same address, as after a crash.
type harness struct {
	t        testing.TB
	nats     *testkit.NATS
	sim      *sim.Server
	simURL   string
	addr     string
	cfg      app.Config
	clock    *testkit.Clock
	midday   time.Time // where the clock started: noon in New York
	nc       *nats.Conn
	js       jetstream.JetStream
	cancel   context.CancelFunc
	done     chan error
	campaign int
	// app is the delivery start ran last.
	app *app.App
	// pool reads delivery's database directly (benchmarks), opened by db.
	pool *pgxpool.Pool
}

type setup struct {
	simConfig func(*sim.Config)
	config    func(*app.Config)
	dbURL     string // a database on another server (a private one)
	redisURL  string
}

func newHarness(t testing.TB, s setup) *harness {
	t.Helper()
	h := &harness{t: t, nats: testkit.StartNATS(t), clock: testkit.NewClock(t)}
	h.midday = h.clock.SetMidday(t, "America/New_York")
	h.addr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))

	sc := sim.Config{
		InboundURL: "http://" + h.addr + twilio.InboundPath, AutoCallbacks: true,
		SendGridKey: "SG.test", EventWebhookURL: "http://" + h.addr + sendgrid.EventsPath, AutoEmailEvents: true,
		InboundParseURL: "http://" + h.addr + sendgrid.InboundPrefix + inboundSecret,
		Clock:           h.clock.Now,
	}
	if s.simConfig != nil {
		s.simConfig(&sc)
	}
	h.sim = sim.New(sc, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	srv := httptest.NewServer(h.sim.Handler())
	t.Cleanup(func() { srv.Close(); h.sim.Close() })
	h.simURL = srv.URL

	cfg := app.DefaultConfig()
	cfg.HTTPAddr = h.addr
	cfg.TrustedCallers = svcauthtest.Trusted()
	cfg.DatabaseURL = s.dbURL
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = testkit.Database(t, migrations.FS)
	}
	cfg.NATSURL, cfg.NATSSeed = h.nats.URL(), h.nats.Seed(natsauth.Delivery)
	if s.redisURL != "" {
		cfg.RedisURL = s.redisURL
		cfg.RedisPrefix = "t:"
	} else {
		_, cfg.RedisPrefix = testkit.Redis(t)
	}
	cfg.TwilioAPIURL, cfg.TwilioAccountSID, cfg.TwilioAuthToken = h.simURL, sim.DefaultAccountSID, sim.DefaultAuthToken
	cfg.TwilioFrom = "+15550001111"
	cfg.SendGridAPIKey, cfg.SendGridAPIURL, cfg.SendGridWebhookKey = "SG.test", h.simURL, h.sim.SendGridPublicKey()
	// The simulator's credentials and a test key: development mode.
	cfg.DevMode = true
	cfg.UnsubscribeSecret = "test-secret-test-secret-test-secret"
	cfg.InboundEmailDomain, cfg.SendGridInboundSecret = replyDomain, inboundSecret
	cfg.EmailLinger = 5 * time.Millisecond
	cfg.TwilioTimeout = time.Second
	cfg.AckWait = 3 * time.Second
	cfg.SweepEvery = 50 * time.Millisecond
	cfg.ShutdownTimeout = 3 * time.Second
	cfg.CapPerDay, cfg.CapPerWeek = 0, 0
	if s.config != nil {
		s.config(&cfg)
	}
	h.cfg = cfg
	// The test stands in for campaigns and contacts and inspects streams:
	// it connects as the admin user. The service runs as its own.
	var err error
	h.nc, h.js, err = stream.Connect(h.nats.URL(), "test", zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), h.nats.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	return h
}

// start runs delivery; sms replaces the Twilio client when not nil.
func (h *harness) start(sms func(twilio.Config) app.Options) {
	h.t.Helper()
	opts := app.Options{Clock: h.clock.Now}
	if sms != nil {
		o := sms(twilio.Config{AccountSID: h.cfg.TwilioAccountSID, AuthToken: h.cfg.TwilioAuthToken, APIURL: h.simURL, Timeout: h.cfg.TwilioTimeout,
			PublicURL: "http://" + h.addr})
		opts.SMS = o.SMS
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, h.cfg, zaptest.NewLogger(h.t, zaptest.Level(zap.InfoLevel)), opts)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	h.cancel, h.done, h.app = cancel, make(chan error, 1), a
	go func() { h.done <- a.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// startWith runs one more delivery replica with its own configuration,
// stopped when the test ends.
func (h *harness) startWith(cfg app.Config) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, zaptest.NewLogger(h.t, zaptest.Level(zap.WarnLevel)), app.Options{Clock: h.clock.Now})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("replica run: %v", err)
		}
	})
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("delivery run: %v", err)
	}
	h.cancel = nil
}

// send publishes a text's send request as campaigns would, under a
// fresh campaign id, and returns its idempotency key.
func (h *harness) send(to, body string, mutate ...func(*events.SendRequested)) string {
	h.t.Helper()
	return h.publish(events.ChannelSMS, to, func(r *events.SendRequested) {
		r.Body = body
		for _, m := range mutate {
			m(r)
		}
	})
}

// email publishes an email's send request.
func (h *harness) email(to, subject, text string) string {
	h.t.Helper()
	return h.publish(events.ChannelEmail, to, func(r *events.SendRequested) {
		r.Subject, r.Body, r.HTML = subject, text, "<p>"+text+"</p>"
	})
}

func (h *harness) publish(ch events.Channel, to string, fill func(*events.SendRequested)) string {
	h.t.Helper()
	h.campaign++
	campaign := fmt.Sprintf("00000000-0000-4000-8000-%012d", h.campaign)
	contact := fmt.Sprintf("contact-%d", h.campaign)
	key := events.IdempotencyKey(campaign, 0, contact, ch)
	req := events.SendRequested{
		Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: 1, OccurredAt: time.Now()},
		IdempotencyKey: key, CampaignID: campaign, ContactID: contact, Channel: ch, To: to,
	}
	fill(&req)
	if err := stream.PublishEventually(context.Background(), h.js, events.SendSubject(ch), key, req); err != nil {
		h.t.Fatal(err)
	}
	return key
}

// message reads the log entry for an idempotency key; ok is false while
// there is none.
func (h *harness) message(key string) (store.Message, bool) {
	h.t.Helper()
	var out struct {
		Messages []store.Message `json:"messages"`
	}
	resp, err := api().Get("http://" + h.addr + "/messages?limit=1000")
	if err != nil {
		return store.Message{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return store.Message{}, false
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Fatal(err)
	}
	for _, m := range out.Messages {
		if m.IdempotencyKey == key {
			return m, true
		}
	}
	return store.Message{}, false
}

// statusOf waits until the message for key reaches want.
func (h *harness) waitStatus(key, want string) store.Message {
	h.t.Helper()
	var last store.Message
	var found bool
	deadline := time.Now().Add(30 * time.Second)
	for {
		last, found = h.message(key)
		if found && string(last.Status) == want {
			return last
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s to be %s (found %v, status %q, reason %q)", key, want, found, last.Status, last.Reason)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// api is an HTTP client that calls delivery as the test caller it trusts.
// Webhooks and unsubscribe links are sent with a plain client: they need
// no service credentials.
func api() *http.Client { return svcauthtest.Client("delivery") }

func (h *harness) get(path string, out any) int {
	h.t.Helper()
	resp, err := api().Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode
}

// never checks that cond stays false for a while: used to show that
// something (a send) does not happen, after the thing that would cause it
// has had ample time.
func never(t testing.TB, what string, cond func() bool, during time.Duration) {
	t.Helper()
	deadline := time.Now().Add(during)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s happened", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// The reply addresses' domain and the Inbound Parse URL's secret the
// harness configures.
const (
	replyDomain   = "replies.local1199.org"
	inboundSecret = "inbound-parse-path-secret-0123456789abcdef"
)

type appConfig = app.Config

var migrationsFS = migrations.FS

func simReply(from, body string) sim.Reply {
	return sim.Reply{From: from, To: "+15550001111", Body: body}
}
