package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

const (
	testSID   = "AC11111111111111111111111111111111"
	testToken = "testtoken1111111111111111111111"
	testKey   = "SG.test-key"
)

// harness is a simulator behind an httptest server plus a real twilio-go
// API client pointed at it.
type harness struct {
	sim *Server
	srv *httptest.Server
	api *openapi.ApiService
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	return newHarnessLog(t, cfg, zaptest.NewLogger(t))
}

func newHarnessLog(t *testing.T, cfg Config, log *zap.Logger) *harness {
	t.Helper()
	if cfg.AccountSID == "" {
		cfg.AccountSID = testSID
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = testToken
	}
	if cfg.SendGridKey == "" {
		cfg.SendGridKey = testKey
	}
	s := New(cfg, log)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		s.Close()
	})
	return &harness{sim: s, srv: srv, api: twilioAPI(t, srv.URL, cfg.AccountSID, cfg.AuthToken)}
}

// rewriteTransport sends every request to target, since twilio-go has no
// base URL setting.
type rewriteTransport struct {
	target *url.URL
	base   http.RoundTripper
}

func (rt rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = rt.target.Scheme
	r2.URL.Host = rt.target.Host
	r2.Host = rt.target.Host
	return rt.base.RoundTrip(r2)
}

func twilioAPI(t *testing.T, serverURL, sid, token string) *openapi.ApiService {
	t.Helper()
	return twilioAPITimeout(t, serverURL, sid, token, 10*time.Second)
}

// twilioAPITimeout is twilioAPI with a client that gives up after timeout.
func twilioAPITimeout(t *testing.T, serverURL, sid, token string, timeout time.Duration) *openapi.ApiService {
	t.Helper()
	target, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("parse server url: %v", err)
	}
	c := &client.Client{
		Credentials: client.NewCredentials(sid, token),
		HTTPClient: &http.Client{
			Timeout:   timeout,
			Transport: rewriteTransport{target: target, base: http.DefaultTransport},
		},
	}
	c.SetAccountSid(sid)
	return openapi.NewApiServiceWithClient(c)
}

// hookRequest is one request a test webhook received.
type hookRequest struct {
	URL       string // full URL as the sender saw it
	Form      map[string]string
	Signature string
}

// valid reports whether the request's signature verifies with twilio-go's
// RequestValidator.
func (h hookRequest) valid(token string) bool {
	v := client.NewRequestValidator(token)
	return v.Validate(h.URL, h.Form, h.Signature)
}

// hook is a test webhook that records requests and answers with respond.
type hook struct {
	srv  *httptest.Server
	reqs chan hookRequest

	mu      sync.Mutex
	respond func(w http.ResponseWriter, req hookRequest)
}

func newHook(t *testing.T) *hook {
	t.Helper()
	h := &hook{reqs: make(chan hookRequest, 10000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("hook: parse form: %v", err)
		}
		req := hookRequest{
			URL:       h.srv.URL + r.URL.RequestURI(),
			Form:      map[string]string{},
			Signature: r.Header.Get("X-Twilio-Signature"),
		}
		for k, v := range r.PostForm {
			req.Form[k] = v[0]
		}
		h.mu.Lock()
		respond := h.respond
		h.mu.Unlock()
		if respond != nil {
			respond(w, req)
		}
		h.reqs <- req
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) setRespond(f func(w http.ResponseWriter, req hookRequest)) {
	h.mu.Lock()
	h.respond = f
	h.mu.Unlock()
}

// next waits for the next request or fails the test at the deadline.
func (h *hook) next(t *testing.T) hookRequest {
	t.Helper()
	select {
	case r := <-h.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a webhook request")
		return hookRequest{}
	}
}

// none asserts no request is waiting right now.
func (h *hook) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-h.reqs:
		t.Fatalf("unexpected webhook request: %+v", r.Form)
	default:
	}
}

// doJSON sends a request with an optional JSON body and decodes a JSON
// answer into out (when out is not nil), returning the status code.
func doJSON(t *testing.T, method, target string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("decode %s %s answer %q: %v", method, target, raw, err)
		}
	}
	return resp.StatusCode
}

func ptr[T any](v T) *T { return &v }
