package smssend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/delivery/freqcap"
	"github.com/musterhq/muster/services/delivery/metrics"
	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/pause"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/provider/smsdouble"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/publish/publishtest"
	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/ratelimit"
	"github.com/musterhq/muster/services/delivery/receive"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/smssend"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// fake is an SMS provider under test, driven through its own controls:
// the pipeline sees only its provider.SMSSender, and its status reports
// reach the pipeline's receiver through its own webhook adapter.
type fake struct {
	name   string
	sender provider.SMSSender
	// sentTo counts the texts the provider took for a number.
	sentTo func(number string) int
	// optOut makes the provider refuse a number whose owner opted out
	// at the carrier; invalid, a number that is no number.
	optOut, invalid func(number string)
	// refuse makes the provider refuse (true) or take (false) our
	// credentials.
	refuse func(bool)
}

// providers are the SMS providers every pipeline test runs against: Twilio
// (the real twilio-go client against the provider simulator, callbacks
// through Twilio's signed webhooks) and a double with its own wire
// format, status words and fault codes (package smsdouble).
var providers = []struct {
	name  string
	start func(t *testing.T, recv *receive.Receiver) fake
}{
	{twilio.Name, startTwilio},
	{smsdouble.Name, startDouble},
}

// webhookServer serves a provider's webhooks, mounted once its URL is
// known (signatures cover the URL).
func webhookServer(t *testing.T, mount func(publicURL string) http.Handler) string {
	var h atomic.Pointer[http.Handler]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*h.Load()).ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	handler := mount(srv.URL)
	h.Store(&handler)
	return srv.URL
}

func startTwilio(t *testing.T, recv *receive.Receiver) fake {
	s := sim.New(sim.Config{AutoCallbacks: true}, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	api := httptest.NewServer(s.Handler())
	t.Cleanup(func() { api.Close(); s.Close() })
	public := webhookServer(t, func(publicURL string) http.Handler {
		r := chi.NewRouter()
		twilio.NewWebhooks(sim.DefaultAuthToken, publicURL, recv, zaptest.NewLogger(t)).Routes(r)
		return r
	})
	client, err := twilio.NewClient(twilio.Config{AccountSID: sim.DefaultAccountSID, AuthToken: sim.DefaultAuthToken, APIURL: api.URL,
		Timeout: 5 * time.Second, PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	// The simulator's faults are one list; keep ours and set it whole.
	var mu sync.Mutex
	var faults []sim.Fault
	add := func(f sim.Fault) {
		mu.Lock()
		defer mu.Unlock()
		faults = append(faults, f)
		s.SetFaults(faults)
	}
	return fake{
		name: twilio.Name, sender: client, sentTo: s.SentTo,
		optOut:  func(n string) { add(sim.Fault{To: n, Kind: sim.FaultUnsubscribed}) },
		invalid: func(n string) { add(sim.Fault{To: n, Kind: sim.FaultInvalidNumber}) },
		refuse: func(on bool) {
			mu.Lock()
			defer mu.Unlock()
			kept := faults[:0]
			for _, f := range faults {
				if f.Kind != sim.FaultUnauthorized {
					kept = append(kept, f)
				}
			}
			if faults = kept; on {
				faults = append(faults, sim.Fault{Kind: sim.FaultUnauthorized})
			}
			s.SetFaults(faults)
		},
	}
}

func startDouble(t *testing.T, recv *receive.Receiver) fake {
	const key = "double-test-key"
	d := smsdouble.NewServer(key)
	api := httptest.NewServer(d.Handler())
	t.Cleanup(func() { d.Close(); api.Close() })
	public := webhookServer(t, func(string) http.Handler {
		mux := http.NewServeMux()
		mux.Handle("POST "+smsdouble.ReportsPath, smsdouble.NewReports(key, recv, zaptest.NewLogger(t)))
		return mux
	})
	return fake{
		name: smsdouble.Name, sender: smsdouble.NewClient(smsdouble.Config{APIURL: api.URL, Key: key, PublicURL: public}),
		sentTo: d.SentTo, optOut: d.OptOut, invalid: d.Invalid, refuse: d.Revoke,
	}
}

// pipeline is the SMS pipeline on real PostgreSQL and Redis, sending
// through one provider.
type pipeline struct {
	t     *testing.T
	p     fake
	st    *store.Store
	w     *smssend.Worker
	gate  *pause.Gate
	clock *testkit.Clock
	pub   *publishtest.Recorder
	n     int
}

func newPipeline(t *testing.T, start func(*testing.T, *receive.Receiver) fake) *pipeline {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool, err := pgxpool.New(ctx, testkit.Database(t, migrations.FS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb, prefix := testkit.Redis(t)
	clock := testkit.NewClock(t)
	clock.SetMidday(t, "America/New_York")
	st := store.New(pool, clock.Now)
	zone, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	rules := settings.Rules{Window: quiet.Default, Zone: zone}
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	pub := &publishtest.Recorder{}
	recv := receive.New(st, pub, func() settings.Rules { return rules }, clock.Now, log)
	go recv.RunBatches(ctx)
	p := start(t, recv)
	m := metrics.New(prometheus.NewRegistry())
	gate := pause.New("sms", p.name, m, clock.Now, log)
	w := smssend.New(smssend.Config{
		Provider: p.name, From: "+15550001111", AccountID: "acct", Rules: func() settings.Rules { return rules },
		MinOpen: time.Minute, Clock: clock.Now, Gate: gate,
	}, st, p.sender, pub, ratelimit.New(rdb, prefix), freqcap.New(rdb, prefix), m, log)
	go w.RunBatches(ctx)
	return &pipeline{t: t, p: p, st: st, w: w, gate: gate, clock: clock, pub: pub}
}

// request is a send request as campaigns publishes it.
func (pl *pipeline) request(to string) stream.Msg {
	pl.t.Helper()
	pl.n++
	campaign := fmt.Sprintf("00000000-0000-4000-8000-%012d", pl.n)
	key := events.IdempotencyKey(campaign, 0, "contact", events.ChannelSMS)
	data, err := json.Marshal(events.SendRequested{
		Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: 1, OccurredAt: pl.clock.Now()},
		IdempotencyKey: key, CampaignID: campaign, ContactID: "contact", Channel: events.ChannelSMS, To: to, Body: "Rally Thursday 6pm",
	})
	if err != nil {
		pl.t.Fatal(err)
	}
	return stream.Msg{Subject: events.SendSubject(events.ChannelSMS), Data: data, Deliveries: 1}
}

func keyOf(t *testing.T, m stream.Msg) string {
	req, err := events.DecodeSendRequested(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return req.IdempotencyKey
}

// waitStatus waits until the message for m reaches want.
func (pl *pipeline) waitStatus(m stream.Msg, want status.Status) store.Message {
	pl.t.Helper()
	key := keyOf(pl.t, m)
	deadline := time.Now().Add(20 * time.Second)
	for {
		msg, err := pl.st.ByKey(context.Background(), key)
		if err == nil && msg.Status == want {
			return msg
		}
		if time.Now().After(deadline) {
			pl.t.Fatalf("%s: message is %q (%s, err %v), want %s", pl.p.name, msg.Status, msg.Reason, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func each(t *testing.T, test func(t *testing.T, pl *pipeline)) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) { test(t, newPipeline(t, p.start)) })
	}
}

// A text goes once, and the provider's reports (the double's come out of
// order) carry it to delivered, never back.
func TestPipelineSendsAndFollowsReportsToDelivered(t *testing.T) {
	each(t, func(t *testing.T, pl *pipeline) {
		const to = "+12125550101"
		req := pl.request(to)
		if err := pl.w.Handle(context.Background(), req); err != nil {
			t.Fatalf("send: %v", err)
		}
		msg := pl.waitStatus(req, status.Delivered)
		if msg.ProviderID == "" {
			t.Errorf("delivered message has no provider id: %+v", msg)
		}
		if n := pl.p.sentTo(to); n != 1 {
			t.Fatalf("%d texts reached the provider, want 1", n)
		}
		// Wait until the provider has nothing more to say, then check the
		// message never moved back.
		time.Sleep(300 * time.Millisecond)
		if got, _ := pl.st.ByKey(context.Background(), keyOf(t, req)); got.Status != status.Delivered {
			t.Fatalf("a late report moved the message back to %s", got.Status)
		}
		announced := pl.pub.Of(msg.ID)
		for i := 1; i < len(announced); i++ {
			if announced[i].Rank() <= announced[i-1].Rank() {
				t.Fatalf("announced statuses went backwards: %v", announced)
			}
		}
		if len(announced) == 0 || announced[len(announced)-1] != status.Delivered {
			t.Fatalf("announced %v, want it to end delivered", announced)
		}
	})
}

// The provider says the member opted out at the carrier: the message ends
// suppressed, the number is on the suppression list, and the next text to
// it never reaches the provider. A number that is no number fails, once.
func TestPipelineCarrierOptOutSuppresses(t *testing.T) {
	each(t, func(t *testing.T, pl *pipeline) {
		ctx := context.Background()
		const stopped, bogus = "+12125550102", "+12125550103"
		pl.p.optOut(stopped)
		pl.p.invalid(bogus)
		first := pl.request(stopped)
		if err := pl.w.Handle(ctx, first); err != nil {
			t.Fatalf("send: %v", err)
		}
		msg := pl.waitStatus(first, status.Suppressed)
		if msg.ErrorCode == "" {
			t.Errorf("suppressed message keeps no provider code: %+v", msg)
		}
		if ok, err := pl.st.IsSuppressed(ctx, string(events.ChannelSMS), stopped); err != nil || !ok {
			t.Fatalf("number not suppressed after the carrier's opt-out: %v %v", ok, err)
		}
		calls := pl.p.sentTo(stopped)
		second := pl.request(stopped)
		if err := pl.w.Handle(ctx, second); err != nil {
			t.Fatalf("second send: %v", err)
		}
		pl.waitStatus(second, status.Suppressed)
		if got := pl.p.sentTo(stopped); got != 0 || calls != 0 {
			t.Fatalf("provider took %d texts to an opted-out number", got)
		}

		bad := pl.request(bogus)
		if err := pl.w.Handle(ctx, bad); err != nil {
			t.Fatalf("send to an invalid number: %v", err)
		}
		pl.waitStatus(bad, status.Failed)
		if ok, _ := pl.st.IsSuppressed(ctx, string(events.ChannelSMS), bogus); ok {
			t.Error("an invalid number was put on the suppression list as an opt-out")
		}
	})
}

// The provider refuses our credentials: the channel pauses, nothing is
// failed or lost, and once the account is fixed the probe sends the text
// exactly once.
func TestPipelineCredentialRefusalPausesAndLosesNothing(t *testing.T) {
	each(t, func(t *testing.T, pl *pipeline) {
		ctx := context.Background()
		const to = "+12125550104"
		pl.p.refuse(true)
		req := pl.request(to)
		err := pl.w.Handle(ctx, req)
		if !errors.Is(err, pause.ErrPaused) {
			t.Fatalf("send with refused credentials = %v, want the channel paused", err)
		}
		if !pl.gate.Paused() {
			t.Fatal("the channel is not paused")
		}
		msg, err := pl.st.ByKey(ctx, keyOf(t, req))
		if err != nil || msg.Status != status.Queued {
			t.Fatalf("refused text is %q (%v), want it back in the queue", msg.Status, err)
		}
		// Redelivered while paused: held without a provider call.
		if err := pl.w.Handle(ctx, req); !errors.Is(err, pause.ErrPaused) {
			t.Fatalf("redelivery while paused = %v", err)
		}
		if n := pl.p.sentTo(to); n != 0 {
			t.Fatalf("%d texts went with refused credentials", n)
		}

		pl.p.refuse(false) // an operator fixed the account
		pl.clock.Advance(pause.FirstProbe + time.Second)
		if err := pl.w.Handle(ctx, req); err != nil {
			t.Fatalf("probe after the fix: %v", err)
		}
		pl.waitStatus(req, status.Delivered)
		if pl.gate.Paused() {
			t.Error("the channel is still paused after a send went")
		}
		if n := pl.p.sentTo(to); n != 1 {
			t.Fatalf("%d texts reached the provider, want exactly 1", n)
		}
	})
}

// The same request delivered many times at once and again later (a
// redelivery, a duplicate publish) reaches the provider once.
func TestPipelineNeverSendsARequestTwice(t *testing.T) {
	each(t, func(t *testing.T, pl *pipeline) {
		const to = "+12125550105"
		req := pl.request(to)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := pl.w.Handle(context.Background(), req); err != nil {
					t.Errorf("send: %v", err)
				}
			}()
		}
		wg.Wait()
		pl.waitStatus(req, status.Delivered)
		if err := pl.w.Handle(context.Background(), req); err != nil {
			t.Fatalf("late redelivery: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		if n := pl.p.sentTo(to); n != 1 {
			t.Fatalf("%d texts reached the provider for one request, want 1", n)
		}
	})
}
