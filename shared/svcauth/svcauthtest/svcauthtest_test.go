package svcauthtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// server is a small service: a guarded API with one member-facing page,
// plus whatever extra adds at the root, beside the guard.
func server(t *testing.T, extra func(root chi.Router)) (*httptest.Server, chi.Routes) {
	t.Helper()
	trusted, err := svcauth.ParseTrusted(Trusted())
	if err != nil {
		t.Fatal(err)
	}
	v, err := svcauth.NewVerifier("contacts", trusted, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	guard := svcauth.NewGuard(v, zap.NewNop())
	ok := func(w http.ResponseWriter, _ *http.Request) { web.WriteJSON(w, http.StatusOK, map[string]string{}) }
	api := chi.NewRouter()
	api.Get("/contacts", ok)
	api.Post("/contacts/{id}/opt-out", ok)
	api.Get("/pages/{token}", ok)
	root := chi.NewRouter()
	root.Get("/healthz", ok)
	root.Get("/readyz", ok)
	root.Handle("/metrics", guard.Metrics(http.HandlerFunc(ok)))
	if extra != nil {
		extra(root)
	}
	root.Mount("/", guard.Protect(api, []svcauth.Route{{Method: "GET", Pattern: "/pages/{token}"}}))
	srv := httptest.NewServer(root)
	t.Cleanup(srv.Close)
	return srv, root
}

func TestAuditPassesAProtectedService(t *testing.T) {
	srv, routes := server(t, nil)
	open := append(Probes(), svcauth.Route{Method: "GET", Pattern: "/pages/{token}"})
	if problems := Audit(srv.URL, routes, open, "contacts"); len(problems) > 0 {
		t.Errorf("audit of a protected service:\n%s", strings.Join(problems, "\n"))
	}
}

// TestAuditFailsAnUnprotectedRoute is the reason the audit exists: a route
// that someone added beside the guard, or an open route nobody listed,
// fails the build.
func TestAuditFailsAnUnprotectedRoute(t *testing.T) {
	srv, routes := server(t, func(root chi.Router) {
		root.Get("/export.csv", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("the member list")) })
	})
	open := append(Probes(), svcauth.Route{Method: "GET", Pattern: "/pages/{token}"}, svcauth.Route{Method: "GET", Pattern: "/gone"})
	problems := strings.Join(Audit(srv.URL, routes, open, "contacts"), "\n")
	for _, want := range []string{
		"GET /export.csv with no credentials answered 200, want 401",
		"GET /export.csv with expired answered 200",
		"GET /gone is listed as open but the router has no such route",
	} {
		if !strings.Contains(problems, want) {
			t.Errorf("audit did not report %q; it reported:\n%s", want, problems)
		}
	}
	// A page that should be open but is not is reported too.
	srv, routes = server(t, nil)
	problems = strings.Join(Audit(srv.URL, routes, Probes(), "contacts"), "\n")
	if strings.Contains(problems, "/pages/{token} is open") || !strings.Contains(problems, "GET /pages/{token} with no credentials answered 200") {
		t.Errorf("an open page missing from the list: audit reported:\n%s", problems)
	}
}

func TestAuditWantsTheJSONErrorShape(t *testing.T) {
	srv, routes := server(t, func(root chi.Router) {
		root.Get("/plain", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusUnauthorized) })
	})
	problems := strings.Join(Audit(srv.URL, routes, append(Probes(), svcauth.Route{Method: "GET", Pattern: "/pages/{token}"}), "contacts"), "\n")
	if !strings.Contains(problems, "GET /plain with no credentials: 401 text/plain") {
		t.Errorf("a plain-text 401 passed the audit:\n%s", problems)
	}
}
