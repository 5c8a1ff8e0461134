package sim

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestSignatureMatchesTwilioValidator(t *testing.T) {
	params := url.Values{}
	params.Set("MessageSid", "SM0123")
	params.Set("Body", "hello & welcome = yes")
	params.Set("AccountSid", testSID)
	params.Set("To", "+15552013344")
	tests := []struct {
		name string
		url  string
	}{
		{"plain", "https://muster.example/twilio/status"},
		{"with port", "http://127.0.0.1:8080/twilio/status"},
		{"with query", "https://muster.example/twilio/status?tenant=t1&campaign=c%202"},
		{"empty params", "https://muster.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := params
			if tt.name == "empty params" {
				p = url.Values{}
			}
			sig := signature(testToken, tt.url, p)
			flat := map[string]string{}
			for k := range p {
				flat[k] = p.Get(k)
			}
			v := client.NewRequestValidator(testToken)
			if !v.Validate(tt.url, flat, sig) {
				t.Errorf("twilio-go rejected signature %q", sig)
			}
			other := client.NewRequestValidator("someothertoken")
			if other.Validate(tt.url, flat, sig) {
				t.Error("signature validated with the wrong token")
			}
			if v.Validate(tt.url+"/tampered", flat, sig) {
				t.Error("signature validated for another URL")
			}
		})
	}
}

func sendWithCallback(t *testing.T, h *harness, callback string) string {
	t.Helper()
	msg, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo("+15552013344").
		SetFrom("+15550001111").SetBody("Game moved").SetStatusCallback(callback))
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	return *msg.Sid
}

func TestAutoCallbacksInOrderAndSigned(t *testing.T) {
	tests := []struct {
		name  string
		delay time.Duration
		path  string
	}{
		{"no delay", 0, "/twilio/status"},
		{"with delay and query", 100 * time.Millisecond, "/twilio/status?tenant=t1&campaign=c%202"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh := newHook(t)
			h := newHarness(t, Config{AutoCallbacks: true, CallbackDelay: tt.delay})
			start := time.Now()
			sid := sendWithCallback(t, h, wh.srv.URL+tt.path)

			for i, want := range []string{"sent", "delivered"} {
				r := wh.next(t)
				if i == 0 && time.Since(start) < tt.delay {
					t.Errorf("first callback after %v, want at least %v", time.Since(start), tt.delay)
				}
				if r.URL != wh.srv.URL+tt.path {
					t.Errorf("callback url = %q", r.URL)
				}
				if !r.valid(testToken) {
					t.Errorf("%s callback signature rejected by twilio-go", want)
				}
				wantForm := map[string]string{
					"MessageSid": sid, "SmsSid": sid, "AccountSid": testSID,
					"From": "+15550001111", "To": "+15552013344",
					"MessageStatus": want, "SmsStatus": want, "ApiVersion": "2010-04-01",
				}
				if len(r.Form) != len(wantForm) {
					t.Errorf("callback params = %v, want %v", r.Form, wantForm)
				}
				for k, v := range wantForm {
					if r.Form[k] != v {
						t.Errorf("callback %d param %s = %q, want %q", i, k, r.Form[k], v)
					}
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				m, _ := h.sim.Message(sid)
				if m.Status == "delivered" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("stored status = %q, want delivered", m.Status)
				}
				time.Sleep(5 * time.Millisecond)
			}
			wh.none(t)
		})
	}
}

func TestAutoCallbacksOffSendsNothing(t *testing.T) {
	wh := newHook(t)
	h := newHarness(t, Config{AutoCallbacks: false})
	sid := sendWithCallback(t, h, wh.srv.URL+"/status")
	// A manual callback proves the hook works; nothing automatic came first.
	if _, err := h.sim.SendStatusCallback(t.Context(), sid, "sent", ""); err != nil {
		t.Fatalf("SendStatusCallback: %v", err)
	}
	if r := wh.next(t); r.Form["MessageStatus"] != "sent" {
		t.Errorf("first request status = %q, want the manual sent", r.Form["MessageStatus"])
	}
	wh.none(t)
	if m, _ := h.sim.Message(sid); m.Status != "sent" {
		t.Errorf("status = %q, want sent", m.Status)
	}
}

func TestResetDropsPendingCallbacks(t *testing.T) {
	wh := newHook(t)
	h := newHarness(t, Config{AutoCallbacks: true, CallbackDelay: 50 * time.Millisecond, CallbackWorkers: 1})
	dropped := sendWithCallback(t, h, wh.srv.URL+"/status")
	h.sim.Reset()
	kept := sendWithCallback(t, h, wh.srv.URL+"/status")
	// Jobs run in order, so once kept's callbacks are in, dropped's job ran.
	for _, want := range []string{"sent", "delivered"} {
		r := wh.next(t)
		if r.Form["MessageSid"] != kept || r.Form["MessageStatus"] != want {
			t.Errorf("got %s %s, want %s %s (dropped was %s)", r.Form["MessageSid"], r.Form["MessageStatus"], kept, want, dropped)
		}
	}
	wh.none(t)
}

func TestAutoCallbackRetries(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	h := newHarnessLog(t, Config{AutoCallbacks: true}, zap.New(core))

	flaky := newHook(t)
	var calls atomic.Int32
	flaky.setRespond(func(w http.ResponseWriter, _ hookRequest) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	sid := sendWithCallback(t, h, flaky.srv.URL+"/status")
	for i, want := range []string{"sent", "sent", "sent", "delivered"} {
		if r := flaky.next(t); r.Form["MessageStatus"] != want || r.Form["MessageSid"] != sid {
			t.Errorf("request %d = %s %s, want %s", i, r.Form["MessageSid"], r.Form["MessageStatus"], want)
		}
	}

	broken := newHook(t)
	broken.setRespond(func(w http.ResponseWriter, _ hookRequest) { w.WriteHeader(http.StatusServiceUnavailable) })
	sendWithCallback(t, h, broken.srv.URL+"/status")
	// Each status: first try plus 3 retries, then give up and move on.
	for i := range 8 {
		want := "sent"
		if i >= 4 {
			want = "delivered"
		}
		if r := broken.next(t); r.Form["MessageStatus"] != want {
			t.Errorf("request %d status = %s, want %s", i, r.Form["MessageStatus"], want)
		}
	}

	// An unreachable webhook is retried too, then logged.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/status"
	dead.Close()
	deadSid := sendWithCallback(t, h, deadURL)

	deadline := time.Now().Add(10 * time.Second)
	for logs.FilterMessage("status callback failed").Len() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("got %d failure logs, want 4", logs.FilterMessage("status callback failed").Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	flaky.none(t)
	broken.none(t)
	failures := logs.FilterMessage("status callback failed").All()
	if len(failures) != 4 {
		t.Errorf("got %d failure logs, want 4 (one per failed callback)", len(failures))
	}
	perURL := map[string]int{}
	for _, e := range failures {
		perURL[e.ContextMap()["url"].(string)]++
	}
	if perURL[broken.srv.URL+"/status"] != 2 || perURL[deadURL] != 2 {
		t.Errorf("failure logs per url = %v", perURL)
	}
	if m, _ := h.sim.Message(deadSid); m.Status != "delivered" {
		t.Errorf("status after failed callbacks = %q, want delivered", m.Status)
	}
	if m, _ := h.sim.Message(sid); m.Status != "delivered" {
		t.Errorf("status after retried callbacks = %q, want delivered", m.Status)
	}
}

func TestManualCallbacks(t *testing.T) {
	wh := newHook(t)
	h := newHarness(t, Config{})
	sid := sendWithCallback(t, h, wh.srv.URL+"/status?x=1")
	noCallback, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo("+15552013344").
		SetFrom("+15550001111").SetBody("no callback"))
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}

	tests := []struct {
		name          string
		req           callbackRequest
		hookStatus    int
		wantHTTP      int
		wantCode      int    // status_code in the answer
		wantErrorCode string // ErrorCode param; "" means absent
	}{
		{"delivered before sent", callbackRequest{Sid: sid, Status: "delivered"}, 200, 200, 200, ""},
		{"then sent", callbackRequest{Sid: sid, Status: "sent"}, 200, 200, 200, ""},
		{"duplicate delivered", callbackRequest{Sid: sid, Status: "delivered"}, 200, 200, 200, ""},
		{"webhook code passed back", callbackRequest{Sid: sid, Status: "delivered"}, 503, 200, 503, ""},
		{"error code dropped when delivered", callbackRequest{Sid: sid, Status: "delivered", ErrorCode: "30007"}, 200, 200, 200, ""},
		{"failed with code", callbackRequest{Sid: sid, Status: "failed", ErrorCode: "30007"}, 200, 200, 200, "30007"},
		{"failed default code", callbackRequest{Sid: sid, Status: "failed"}, 200, 200, 200, "30008"},
		{"undelivered default code", callbackRequest{Sid: sid, Status: "undelivered"}, 204, 200, 204, "30003"},
		{"unknown sid", callbackRequest{Sid: "SM00000000000000000000000000000000", Status: "sent"}, 0, 404, 0, ""},
		{"bad status", callbackRequest{Sid: sid, Status: "teleported"}, 0, 400, 0, ""},
		{"no status callback url", callbackRequest{Sid: *noCallback.Sid, Status: "sent"}, 0, 409, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh.setRespond(func(w http.ResponseWriter, _ hookRequest) { w.WriteHeader(tt.hookStatus) })
			var out struct {
				StatusCode int    `json:"status_code"`
				Error      string `json:"error"`
			}
			got := doJSON(t, http.MethodPost, h.srv.URL+"/sim/callbacks", tt.req, &out)
			if got != tt.wantHTTP || out.StatusCode != tt.wantCode {
				t.Fatalf("answer = %d %+v, want %d with status_code %d", got, out, tt.wantHTTP, tt.wantCode)
			}
			if tt.wantHTTP != http.StatusOK {
				if out.Error == "" {
					t.Error("error answer has no message")
				}
				wh.none(t)
				return
			}
			r := wh.next(t)
			wh.none(t) // one attempt only, even when the webhook fails
			if r.Form["MessageSid"] != sid || r.Form["MessageStatus"] != tt.req.Status || r.Form["SmsStatus"] != tt.req.Status {
				t.Errorf("callback = %v", r.Form)
			}
			if code, ok := r.Form["ErrorCode"]; code != tt.wantErrorCode || ok != (tt.wantErrorCode != "") {
				t.Errorf("ErrorCode = %q (present %v), want %q", code, ok, tt.wantErrorCode)
			}
			if !r.valid(testToken) {
				t.Error("signature rejected by twilio-go")
			}
			m, _ := h.sim.Message(sid)
			if m.Status != tt.req.Status || m.ErrorCode != tt.wantErrorCode {
				t.Errorf("stored status/error = %s/%s, want %s/%s", m.Status, m.ErrorCode, tt.req.Status, tt.wantErrorCode)
			}
		})
	}

	if code := doJSON(t, http.MethodPost, h.srv.URL+"/sim/callbacks", "not an object", nil); code != http.StatusBadRequest {
		t.Errorf("malformed body status = %d, want 400", code)
	}
}

func TestManualCallbackUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/status"
	dead.Close()
	h := newHarness(t, Config{})
	sid := sendWithCallback(t, h, deadURL)
	var out struct {
		Error string `json:"error"`
	}
	code := doJSON(t, http.MethodPost, h.srv.URL+"/sim/callbacks", callbackRequest{Sid: sid, Status: "sent"}, &out)
	if code != http.StatusBadGateway || out.Error == "" {
		t.Errorf("answer = %d %+v, want 502 with an error", code, out)
	}
}

func TestCloseStopsWorkers(t *testing.T) {
	wh := newHook(t)
	h := newHarness(t, Config{AutoCallbacks: true, CallbackDelay: time.Hour})
	sendWithCallback(t, h, wh.srv.URL+"/status")
	done := make(chan struct{})
	go func() {
		h.sim.Close()
		h.sim.Close() // idempotent
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a pending callback")
	}
	wh.none(t)
}

// TestCallbacksReuseConnections: more workers than http.Transport's
// default cap of 100 idle connections post callbacks at once, round after
// round with a pause between, and each worker keeps its connection
// through the pauses: the webhook sees about one connection a worker (a
// few more where a worker asks before its last one is back in the pool),
// not fifty more every round.
func TestCallbacksReuseConnections(t *testing.T) {
	const workers, rounds = 150, 10
	var conns, calls atomic.Int64
	wh := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond) // so the workers overlap
		calls.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	wh.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	wh.Start()
	t.Cleanup(wh.Close)
	// The delay lets a round's texts all be created before their
	// callbacks are due, so every worker posts at once.
	h := newHarness(t, Config{AutoCallbacks: true, CallbackDelay: 300 * time.Millisecond, CallbackWorkers: workers})
	for round := 1; round <= rounds; round++ {
		for range workers {
			sendWithCallback(t, h, wh.URL+"/twilio/status")
		}
		want := int64(2 * workers * round)
		deadline := time.Now().Add(30 * time.Second)
		for calls.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d callbacks arrived", round, calls.Load(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	got := conns.Load()
	t.Logf("%d callbacks took %d connections", 2*workers*rounds, got)
	if got > 2*workers {
		t.Errorf("%d callbacks took %d connections, want at most %d (about one a worker)", 2*workers*rounds, got, 2*workers)
	}
}
