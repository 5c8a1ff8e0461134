package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/musterhq/muster/shared/apperr"
)

func TestServerEndpoints(t *testing.T) {
	routes := chi.NewRouter()
	routes.Get("/hello", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, zap.NewNop(), apperr.Invalid("phone", "not a phone number"))
	})
	var down atomic.Bool
	checks := map[string]Check{"db": func(context.Context) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}}
	core, logs := observer.New(zap.InfoLevel)
	open := func(h http.Handler) http.Handler { return h }
	checks["sending"] = func(context.Context) error { return nil }
	srv, err := NewServer("127.0.0.1:0", routes, prometheus.NewRegistry(), checks, zap.New(core), MetricsGuard(open), Excludable("db"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 200 || body != `{"status":"ok"}`+"\n" {
		t.Errorf("readyz = %d %s while ready", code, body)
	}
	// Down, /readyz says so in a fixed body that names no dependency and
	// no error; the log has the detail, once however often it is asked.
	down.Store(true)
	for range 3 {
		if code, body := get("/readyz"); code != 503 || body != `{"error":"not ready","kind":"unavailable"}`+"\n" {
			t.Errorf("readyz = %d %s while db down", code, body)
		}
	}
	// A probe that excludes the failing check is answered ready; one that
	// excludes another check is not.
	if code, _ := get("/readyz?exclude=db"); code != 200 {
		t.Errorf("readyz?exclude=db = %d while only db is down", code)
	}
	if code, _ := get("/readyz?exclude=cache"); code != 503 {
		t.Errorf("readyz?exclude=cache = %d while db is down", code)
	}
	// Only an excludable check can be left out.
	srv2, err := NewServer("127.0.0.1:0", routes, prometheus.NewRegistry(), checks, zap.NewNop(), Excludable("sending"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv2.Serve() }()
	t.Cleanup(func() { _ = srv2.Shutdown(context.Background()) })
	if resp, err := http.Get(srv2.URL() + "/readyz?exclude=db"); err != nil || resp.StatusCode != 503 {
		t.Errorf("readyz?exclude=db on a server where db is not excludable = %v, %v; want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	if failed := logs.FilterField(zap.String("check", "db")).FilterMessageSnippet("failed").All(); len(failed) != 1 ||
		!strings.Contains(fmt.Sprint(failed[0].ContextMap()["error"]), "connection refused") {
		t.Errorf("failure logged %d times, want once with its error: %+v", len(failed), failed)
	}
	down.Store(false)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz = %d once the db is back", code)
	}
	if back := logs.FilterMessageSnippet("passes again").Len(); back != 1 {
		t.Errorf("recovery logged %d times, want once", back)
	}
	code, body := get("/hello")
	if code != 400 || !strings.Contains(body, `"field":"phone"`) {
		t.Errorf("invalid error = %d %s", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `http_requests_total{code="400",method="GET",route="/hello"} 1`) {
		t.Errorf("metrics = %d, missing request counter:\n%s", code, body)
	}
}

// TestMetricsClosedWithoutGuard: a server built without a guard for
// /metrics does not publish them.
func TestMetricsClosedWithoutGuard(t *testing.T) {
	srv, err := NewServer("127.0.0.1:0", chi.NewRouter(), prometheus.NewRegistry(), nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), `"kind":"unauthorized"`) {
		t.Errorf("unguarded /metrics = %d %s, want 401", resp.StatusCode, body)
	}
}

func TestDecodeJSON(t *testing.T) {
	type req struct {
		Name string `json:"name"`
		N    int    `json:"n"`
	}
	cases := []struct {
		body, field string
		ok          bool
	}{
		{`{"name":"a","n":1}`, "", true},
		{`{"name":"a","extra":1}`, "body", false},
		{`{"n":"x"}`, "n", false},
		{`{"name":`, "body", false},
		{``, "body", false},
		{`{} {}`, "body", false},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("POST", "/", strings.NewReader(c.body))
		var v req
		err := DecodeJSON(r, &v)
		if (err == nil) != c.ok {
			t.Errorf("%q: err = %v, want ok=%v", c.body, err, c.ok)
			continue
		}
		if err != nil && apperr.FieldOf(err) != c.field {
			t.Errorf("%q: field = %q, want %q", c.body, apperr.FieldOf(err), c.field)
		}
	}
}

// A caller sees why a request was refused, but of a failure of ours only
// its kind: the text under it may name the database or a host.
func TestBodyOfHidesServerErrorDetail(t *testing.T) {
	cases := []struct {
		err  error
		want ErrorBody
	}{
		{apperr.Invalid("phone", "not a phone number"), ErrorBody{Error: "phone: not a phone number", Kind: "invalid", Field: "phone"}},
		{apperr.TooLarge("body", "larger than 10 bytes"), ErrorBody{Error: "body: larger than 10 bytes", Kind: "too_large", Field: "body"}},
		{errors.New("dial tcp 10.0.0.5:5432: connection refused"), ErrorBody{Error: "internal error", Kind: "internal"}},
		{fmt.Errorf("recording: %w", errors.New(`ERROR: relation "suppressions" does not exist`)), ErrorBody{Error: "internal error", Kind: "internal"}},
		{apperr.Unavailable(errors.New("dial tcp 10.0.0.7:8081: connection refused"), "contacts is not answering"), ErrorBody{Error: "contacts is not answering", Kind: "unavailable"}},
	}
	for _, c := range cases {
		if got := BodyOf(c.err); got != c.want {
			t.Errorf("BodyOf(%v) = %+v, want %+v", c.err, got, c.want)
		}
	}
}

// Every kind has its own status, and its body names the kind the way
// callers match on it.
func TestEveryKindHasItsStatus(t *testing.T) {
	cases := []struct {
		err    error
		status int
		kind   string
	}{
		{apperr.Invalid("f", "x"), 400, "invalid"},
		{apperr.Unauthorized("x"), 401, "unauthorized"},
		{apperr.Forbidden("x"), 403, "forbidden"},
		{apperr.NotFound("x"), 404, "not_found"},
		{apperr.MethodNotAllowed("x"), 405, "method_not_allowed"},
		{apperr.Conflict("x"), 409, "conflict"},
		{apperr.TooLarge("f", "x"), 413, "too_large"},
		{apperr.TooMany("x"), 429, "too_many_requests"},
		{errors.New("x"), 500, "internal"},
		{apperr.Unavailable(errors.New("x"), "y"), 503, "unavailable"},
	}
	for _, c := range cases {
		if got := StatusOf(c.err); got != c.status {
			t.Errorf("StatusOf(%v) = %d, want %d", c.err, got, c.status)
		}
		if got := BodyOf(c.err).Kind; got != c.kind {
			t.Errorf("BodyOf(%v).Kind = %q, want %q", c.err, got, c.kind)
		}
	}
}
