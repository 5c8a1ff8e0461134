package app_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/app"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
)

// TestEveryRouteNeedsServiceCredentials is the security table of
// contacts: every route of the running service, as its router lists
// them, refuses a call without valid service credentials, except the
// probes. contacts holds the member list, so it has no public route.
func TestEveryRouteNeedsServiceCredentials(t *testing.T) {
	a, _, _ := startApp(t)
	if open := app.PublicRoutes(); len(open) != 0 {
		t.Errorf("contacts lists public routes %v: nothing in it is for the public", open)
	}
	open := append(svcauthtest.Probes(), app.PublicRoutes()...)
	for _, p := range svcauthtest.Audit(a.URL(), a.Routes(), open, "contacts") {
		t.Error(p)
	}
	// The probes say ok to anyone, and no more.
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(a.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.Contains(string(body), "postgres://") {
			t.Errorf("%s = %d %s", path, resp.StatusCode, body)
		}
	}
	// Metrics are for a trusted caller.
	if p := svcauthtest.Metrics(a.URL(), "contacts"); p != "" {
		t.Error(p)
	}
}

// TestRefusesToStartWithoutTrustedCallers: outside development mode a
// contacts with no trusted callers does not start, and says which
// variable is missing before it touches anything.
func TestRefusesToStartWithoutTrustedCallers(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	_, err := app.New(context.Background(), cfg, zap.NewNop(), app.Options{})
	if err == nil || !strings.Contains(err.Error(), "CONTACTS_TRUSTED_CALLERS is required") {
		t.Fatalf("New = %v, want a refusal naming CONTACTS_TRUSTED_CALLERS", err)
	}
}
