package sim

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

func sendTo(api *openapi.ApiService, to, body, callback string) (*openapi.ApiV2010Message, error) {
	p := (&openapi.CreateMessageParams{}).SetTo(to).SetFrom("+15550001111").SetBody(body)
	if callback != "" {
		p.SetStatusCallback(callback)
	}
	return api.CreateMessage(p)
}

// TestTwilioFaultKinds checks each fault as twilio-go sees it, whether the
// message was recorded, and which callbacks it then gets.
func TestTwilioFaultKinds(t *testing.T) {
	const to = "+15552013344"
	tests := []struct {
		name          string
		fault         Fault
		clientTimeout time.Duration
		wantStatus    int  // TwilioRestError status; 0 means no TwilioRestError
		wantCode      int  // TwilioRestError code
		wantTimeout   bool // the client gave up waiting
		wantAborted   bool // the connection was dropped without an answer
		wantRecorded  bool
		wantFinal     string // last automatic callback status, for recorded messages
	}{
		{name: "429", fault: Fault{Kind: FaultRateLimited}, wantStatus: 429, wantCode: 20429},
		{name: "500", fault: Fault{Kind: FaultServerError}, wantStatus: 500, wantCode: 20500},
		{name: "401 credentials refused", fault: Fault{Kind: FaultUnauthorized}, wantStatus: 401, wantCode: 20003},
		{name: "403 permission denied", fault: Fault{Kind: FaultForbidden}, wantStatus: 403, wantCode: 20003},
		{name: "21610 unsubscribed", fault: Fault{Kind: FaultUnsubscribed}, wantStatus: 400, wantCode: 21610},
		{name: "21211 invalid number", fault: Fault{Kind: FaultInvalidNumber}, wantStatus: 400, wantCode: 21211},
		{name: "503 after accept", fault: Fault{Kind: FaultUnavailableAfterAccept}, wantStatus: 503, wantCode: 20503,
			wantRecorded: true, wantFinal: "delivered"},
		{name: "timeout after accept", fault: Fault{Kind: FaultTimeoutAfterAccept}, clientTimeout: 300 * time.Millisecond,
			wantTimeout: true, wantRecorded: true, wantFinal: "delivered"},
		{name: "hold ends before the client gives up", fault: Fault{Kind: FaultTimeoutAfterAccept, Hold: 50 * time.Millisecond},
			wantAborted: true, wantRecorded: true, wantFinal: "delivered"},
		{name: "30006 undelivered", fault: Fault{Kind: FaultUndelivered}, wantRecorded: true, wantFinal: "undelivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh := newHook(t)
			h := newHarness(t, Config{AutoCallbacks: true})
			api := h.api
			if tt.clientTimeout > 0 {
				api = twilioAPITimeout(t, h.srv.URL, testSID, testToken, tt.clientTimeout)
			}
			h.sim.SetFaults([]Fault{tt.fault})

			msg, err := sendTo(api, to, "Game at 6pm", wh.srv.URL+"/status")
			var te *client.TwilioRestError
			var ue *url.Error
			switch {
			case tt.wantStatus != 0:
				if !errors.As(err, &te) {
					t.Fatalf("err = %v, want *client.TwilioRestError", err)
				}
				if te.Status != tt.wantStatus || te.Code != tt.wantCode || te.Message == "" ||
					!strings.HasSuffix(te.MoreInfo, "/errors/"+strconv.Itoa(tt.wantCode)) {
					t.Errorf("error = %+v, want status %d code %d", te, tt.wantStatus, tt.wantCode)
				}
			case tt.wantTimeout:
				if !errors.As(err, &ue) || !ue.Timeout() {
					t.Fatalf("err = %v, want a client timeout", err)
				}
			case tt.wantAborted:
				if err == nil || errors.As(err, &te) || (errors.As(err, &ue) && ue.Timeout()) {
					t.Fatalf("err = %v, want a dropped connection", err)
				}
			default:
				if err != nil {
					t.Fatalf("CreateMessage: %v", err)
				}
				if deref(msg.Status) != "queued" {
					t.Errorf("status = %s, want queued", deref(msg.Status))
				}
			}

			out := h.sim.Outbox()
			if !tt.wantRecorded {
				if len(out) != 0 || h.sim.Count() != 0 || h.sim.SentTo(to) != 0 {
					t.Errorf("rejected message recorded: %+v", out)
				}
			} else {
				if len(out) != 1 || h.sim.SentTo(to) != 1 {
					t.Fatalf("outbox = %+v, want the one message", out)
				}
				if out[0].Fault != tt.fault.Kind || out[0].To != to {
					t.Errorf("recorded fault = %q, want %q", out[0].Fault, tt.fault.Kind)
				}
				for _, want := range []string{"sent", tt.wantFinal} {
					r := wh.next(t)
					if r.Form["MessageSid"] != out[0].Sid || r.Form["MessageStatus"] != want || !r.valid(testToken) {
						t.Errorf("callback = %v (valid %v), want %s for %s", r.Form, r.valid(testToken), want, out[0].Sid)
					}
					wantCode := ""
					if want == "undelivered" {
						wantCode = "30006"
					}
					if r.Form["ErrorCode"] != wantCode {
						t.Errorf("%s callback ErrorCode = %q, want %q", want, r.Form["ErrorCode"], wantCode)
					}
				}
				waitStatus(t, h.sim, out[0].Sid, tt.wantFinal)
			}
			wh.none(t)

			states := h.sim.Faults()
			if len(states) != 1 || states[0].Fired != 1 || states[0].Seen != 1 || states[0].Kind != tt.fault.Kind {
				t.Errorf("fault states = %+v, want one rule fired once", states)
			}
			// The rule is unlimited: the next send is affected too.
			if tt.wantStatus != 0 {
				if _, err := sendTo(api, to, "again", ""); !errors.As(err, &te) || te.Code != tt.wantCode {
					t.Errorf("second send err = %v, want code %d", err, tt.wantCode)
				}
				if h.sim.Faults()[0].Fired != 2 {
					t.Errorf("fired = %d after a second send, want 2", h.sim.Faults()[0].Fired)
				}
			}
		})
	}
}

// waitStatus waits until the stored status of sid is want.
func waitStatus(t *testing.T, s *Server, sid, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m, _ := s.Message(sid)
		if m.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored status = %q, want %q", m.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUndeliveredFaultFetch checks a 30006 message reads back as Twilio
// would show it once its callbacks ran.
func TestUndeliveredFaultFetch(t *testing.T) {
	h := newHarness(t, Config{AutoCallbacks: true})
	h.sim.SetFaults([]Fault{{Kind: FaultUndelivered}})
	msg, err := sendTo(h.api, "+15552013344", "hi", "")
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	waitStatus(t, h.sim, *msg.Sid, "undelivered")
	got, err := h.api.FetchMessage(*msg.Sid, nil)
	if err != nil {
		t.Fatalf("FetchMessage: %v", err)
	}
	if deref(got.Status) != "undelivered" || got.ErrorCode == nil || *got.ErrorCode != 30006 ||
		deref(got.ErrorMessage) != "Landline or unreachable carrier" {
		t.Errorf("fetched status %s code %v message %s, want undelivered 30006", deref(got.Status), got.ErrorCode, deref(got.ErrorMessage))
	}
}

// TestFaultMatching checks To, Every and Count, rule order and fall-through.
func TestFaultMatching(t *testing.T) {
	const a, b = "+15550000001", "+15550000002"
	type send struct {
		to       string
		wantCode int // 0 means accepted
	}
	tests := []struct {
		name      string
		rules     []Fault
		sends     []send
		wantSeen  []int
		wantFired []int
	}{
		{
			name:      "to matches only that number",
			rules:     []Fault{{To: a, Kind: FaultUnsubscribed}},
			sends:     []send{{a, 21610}, {b, 0}, {a, 21610}},
			wantSeen:  []int{2},
			wantFired: []int{2},
		},
		{
			name:      "every third request",
			rules:     []Fault{{Every: 3, Kind: FaultServerError}},
			sends:     []send{{a, 0}, {a, 0}, {a, 20500}, {b, 0}, {b, 0}, {a, 20500}, {a, 0}},
			wantSeen:  []int{7},
			wantFired: []int{2},
		},
		{
			name:      "count uses the rule up",
			rules:     []Fault{{Count: 2, Kind: FaultRateLimited}},
			sends:     []send{{a, 20429}, {b, 20429}, {a, 0}, {b, 0}},
			wantSeen:  []int{2},
			wantFired: []int{2},
		},
		{
			name:      "every with count",
			rules:     []Fault{{Every: 2, Count: 1, Kind: FaultRateLimited}},
			sends:     []send{{a, 0}, {a, 20429}, {a, 0}, {a, 0}, {a, 0}},
			wantSeen:  []int{2},
			wantFired: []int{1},
		},
		{
			name: "first firing rule wins; misses fall through",
			rules: []Fault{
				{To: a, Count: 1, Kind: FaultInvalidNumber},
				{Every: 2, Kind: FaultServerError},
				{To: b, Kind: FaultUnsubscribed},
			},
			// a: rule 0 fires. a: rule 0 used up, rule 1 sees 1, no rule
			// fires. b: rule 1 sees 2 and fires. b: rule 1 sees 3, rule 2
			// fires. a: rule 1 sees 4 and fires.
			sends:     []send{{a, 21211}, {a, 0}, {b, 20500}, {b, 21610}, {a, 20500}},
			wantSeen:  []int{1, 4, 1},
			wantFired: []int{1, 2, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.sim.SetFaults(tt.rules)
			accepted := 0
			for i, s := range tt.sends {
				_, err := sendTo(h.api, s.to, "msg", "")
				if s.wantCode == 0 {
					if err != nil {
						t.Errorf("send %d to %s: %v, want accepted", i, s.to, err)
					}
					accepted++
					continue
				}
				var te *client.TwilioRestError
				if !errors.As(err, &te) || te.Code != s.wantCode {
					t.Errorf("send %d to %s: err = %v, want code %d", i, s.to, err, s.wantCode)
				}
			}
			if h.sim.Count() != accepted {
				t.Errorf("recorded %d, want %d", h.sim.Count(), accepted)
			}
			states := h.sim.Faults()
			if len(states) != len(tt.rules) {
				t.Fatalf("got %d rule states, want %d", len(states), len(tt.rules))
			}
			for i, st := range states {
				if st.Fault != tt.rules[i] || st.Seen != tt.wantSeen[i] || st.Fired != tt.wantFired[i] {
					t.Errorf("rule %d = %+v, want seen %d fired %d", i, st, tt.wantSeen[i], tt.wantFired[i])
				}
			}
		})
	}
}

// TestFaultPercentReproducible checks a percent rule fires on a share of
// requests, the same ones for the same seed.
func TestFaultPercentReproducible(t *testing.T) {
	const n = 120
	run := func(seed uint64) (string, int) {
		h := newHarness(t, Config{})
		h.sim.SetFaults([]Fault{{Percent: 30, Seed: seed, Kind: FaultRateLimited}})
		var pattern strings.Builder
		failed := 0
		for range n {
			if _, err := sendTo(h.api, "+15552013344", "hi", ""); err != nil {
				var te *client.TwilioRestError
				if !errors.As(err, &te) || te.Code != 20429 {
					t.Fatalf("err = %v, want 20429", err)
				}
				pattern.WriteByte('x')
				failed++
			} else {
				pattern.WriteByte('.')
			}
		}
		st := h.sim.Faults()[0]
		if st.Fired != failed || st.Seen != n || h.sim.Count() != n-failed {
			t.Errorf("seed %d: state %+v, count %d; %d of %d failed", seed, st, h.sim.Count(), failed, n)
		}
		return pattern.String(), failed
	}
	first, failed := run(42)
	again, _ := run(42)
	other, _ := run(7)
	if first != again {
		t.Errorf("same seed gave different faults:\n%s\n%s", first, again)
	}
	if first == other {
		t.Errorf("different seeds gave the same faults: %s", first)
	}
	// 30% of 120 is 36; a fair draw is nowhere near these bounds.
	if failed < 12 || failed > 70 {
		t.Errorf("%d of %d requests failed at 30%%", failed, n)
	}
}

func TestFaultValidation(t *testing.T) {
	tests := []struct {
		name  string
		email bool
		rule  Fault
	}{
		{"unknown kind", false, Fault{Kind: "418"}},
		{"empty kind", false, Fault{}},
		{"email kind on twilio", false, Fault{Kind: FaultInvalidEmail}},
		{"twilio kind on email", true, Fault{Kind: FaultUnsubscribed}},
		{"30006 on email", true, Fault{Kind: FaultUndelivered}},
		{"negative every", false, Fault{Kind: FaultServerError, Every: -1}},
		{"negative count", false, Fault{Kind: FaultServerError, Count: -1}},
		{"percent over 100", false, Fault{Kind: FaultServerError, Percent: 101}},
		{"every and percent", false, Fault{Kind: FaultServerError, Every: 2, Percent: 50}},
		{"negative hold", true, Fault{Kind: FaultTimeoutAfterAccept, Hold: -time.Second}},
	}
	h := newHarness(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil {
					t.Error("invalid rule accepted without a panic")
				}
			}()
			if tt.email {
				h.sim.SetEmailFaults([]Fault{tt.rule})
			} else {
				h.sim.SetFaults([]Fault{tt.rule})
			}
		})
	}
	if len(h.sim.Faults()) != 0 || len(h.sim.EmailFaults()) != 0 {
		t.Errorf("invalid rules were kept: %+v %+v", h.sim.Faults(), h.sim.EmailFaults())
	}
}

func TestFaultRoutes(t *testing.T) {
	h := newHarness(t, Config{})
	type rulesBody struct {
		Rules []map[string]any `json:"rules"`
	}
	var out rulesBody
	put := map[string]any{"rules": []map[string]any{
		{"to": "+15550000001", "kind": "21610", "count": 1},
		{"every": 2, "kind": "500"},
		{"kind": "timeout_after_accept", "hold": "1500ms", "percent": 12.5, "seed": 9},
	}}
	if code := doJSON(t, http.MethodPut, h.srv.URL+"/sim/faults", put, &out); code != http.StatusOK || len(out.Rules) != 3 {
		t.Fatalf("PUT = %d %+v", code, out)
	}
	st := h.sim.Faults()
	want := []Fault{
		{To: "+15550000001", Kind: FaultUnsubscribed, Count: 1},
		{Every: 2, Kind: FaultServerError},
		{Kind: FaultTimeoutAfterAccept, Hold: 1500 * time.Millisecond, Percent: 12.5, Seed: 9},
	}
	for i := range want {
		if st[i].Fault != want[i] {
			t.Errorf("rule %d = %+v, want %+v", i, st[i].Fault, want[i])
		}
	}

	if _, err := sendTo(h.api, "+15550000001", "hi", ""); err == nil {
		t.Fatal("send matched by the 21610 rule succeeded")
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/faults", nil, &out); code != http.StatusOK {
		t.Fatalf("GET = %d", code)
	}
	wantRules := []map[string]any{
		{"to": "+15550000001", "kind": "21610", "count": 1.0, "seen": 1.0, "fired": 1.0},
		{"every": 2.0, "kind": "500", "seen": 0.0, "fired": 0.0},
		{"kind": "timeout_after_accept", "hold": "1.5s", "percent": 12.5, "seed": 9.0, "seen": 0.0, "fired": 0.0},
	}
	for i, w := range wantRules {
		if len(out.Rules[i]) != len(w) {
			t.Errorf("rule %d = %v, want %v", i, out.Rules[i], w)
		}
		for k, v := range w {
			if out.Rules[i][k] != v {
				t.Errorf("rule %d %s = %v, want %v", i, k, out.Rules[i][k], v)
			}
		}
	}

	bad := []struct {
		name string
		path string
		body any
	}{
		{"unknown kind", "/sim/faults", map[string]any{"rules": []map[string]any{{"kind": "404"}}}},
		{"misspelt field", "/sim/faults", map[string]any{"rules": []map[string]any{{"kind": "500", "evry": 2}}}},
		{"bad hold", "/sim/faults", map[string]any{"rules": []map[string]any{{"kind": "timeout_after_accept", "hold": "long"}}}},
		{"every and percent", "/sim/faults", map[string]any{"rules": []map[string]any{{"kind": "500", "every": 2, "percent": 5}}}},
		{"twilio kind for email", "/sim/sendgrid/faults", map[string]any{"rules": []map[string]any{{"kind": "21610"}}}},
		{"not json", "/sim/faults", "rules"},
	}
	for _, b := range bad {
		var e struct {
			Error string `json:"error"`
		}
		if code := doJSON(t, http.MethodPut, h.srv.URL+b.path, b.body, &e); code != http.StatusBadRequest || e.Error == "" {
			t.Errorf("%s: PUT = %d %+v, want 400 with an error", b.name, code, e)
		}
	}
	if len(h.sim.Faults()) != 3 {
		t.Errorf("a rejected PUT changed the rules: %+v", h.sim.Faults())
	}

	if code := doJSON(t, http.MethodDelete, h.srv.URL+"/sim/faults", nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE = %d", code)
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/faults", nil, &out); code != http.StatusOK || out.Rules == nil || len(out.Rules) != 0 {
		t.Errorf("GET after DELETE = %d %+v, want an empty list", code, out)
	}
	if _, err := sendTo(h.api, "+15550000001", "hi", ""); err != nil {
		t.Errorf("send after DELETE: %v", err)
	}

	// The SendGrid rules are a separate list.
	put = map[string]any{"rules": []map[string]any{{"to": "ann@example.com", "kind": "400"}}}
	if code := doJSON(t, http.MethodPut, h.srv.URL+"/sim/sendgrid/faults", put, &out); code != http.StatusOK ||
		len(out.Rules) != 1 || out.Rules[0]["kind"] != "400" {
		t.Errorf("PUT sendgrid = %d %+v", code, out)
	}
	if len(h.sim.EmailFaults()) != 1 || len(h.sim.Faults()) != 0 {
		t.Errorf("rules: twilio %+v, sendgrid %+v", h.sim.Faults(), h.sim.EmailFaults())
	}
	if code := doJSON(t, http.MethodDelete, h.srv.URL+"/sim/sendgrid/faults", nil, nil); code != http.StatusNoContent ||
		len(h.sim.EmailFaults()) != 0 {
		t.Errorf("DELETE sendgrid = %d, rules %+v", code, h.sim.EmailFaults())
	}
}

// TestLatency checks the added delay, and that a client giving up during
// it sent nothing.
func TestLatency(t *testing.T) {
	const latency = 150 * time.Millisecond
	h := newHarness(t, Config{Latency: latency})
	start := time.Now()
	if _, err := sendTo(h.api, "+15552013344", "hi", ""); err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("answered after %v, want at least %v", d, latency)
	}
	start = time.Now()
	if resp := sendMail(t, h.srv.URL, testKey, validMail()); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("mail/send = %d", resp.StatusCode)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("mail/send answered after %v, want at least %v", d, latency)
	}

	// Raised at run time past the client's patience: nothing is sent.
	h.sim.SetLatency(600 * time.Millisecond)
	if h.sim.Latency() != 600*time.Millisecond {
		t.Errorf("Latency() = %v", h.sim.Latency())
	}
	impatient := twilioAPITimeout(t, h.srv.URL, testSID, testToken, 100*time.Millisecond)
	start = time.Now()
	_, err := sendTo(impatient, "+15550000009", "hi", "")
	var ue *url.Error
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("err = %v, want a client timeout", err)
	}
	time.Sleep(time.Until(start.Add(800 * time.Millisecond))) // past the latency
	if n := h.sim.SentTo("+15550000009"); n != 0 {
		t.Errorf("abandoned request recorded %d messages", n)
	}

	// And lowered over HTTP.
	var out map[string]any
	if code := doJSON(t, http.MethodPatch, h.srv.URL+"/sim/settings", map[string]any{"latency": "0s"}, &out); code != http.StatusOK ||
		out["latency"] != "0s" {
		t.Fatalf("PATCH = %d %v", code, out)
	}
	if _, err := sendTo(impatient, "+15550000009", "hi", ""); err != nil {
		t.Errorf("send without latency: %v", err)
	}
}
