package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
)

func TestServerEndpoints(t *testing.T) {
	routes := chi.NewRouter()
	routes.Get("/hello", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, zap.NewNop(), apperr.Invalid("phone", "not a phone number"))
	})
	var down bool
	checks := map[string]Check{"db": func(context.Context) error {
		if down {
			return errors.New("connection refused")
		}
		return nil
	}}
	open := func(h http.Handler) http.Handler { return h }
	srv, err := NewServer("127.0.0.1:0", routes, prometheus.NewRegistry(), checks, zap.NewNop(), MetricsGuard(open))
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
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("readyz = %d while ready", code)
	}
	down = true
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("readyz = %d %s while db down", code, body)
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
