package app_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
)

// TestEveryRouteNeedsServiceCredentials is the security table of
// delivery: every route of the running service, as its router lists
// them, refuses a call without valid service credentials, except the
// probes and the routes that carry their own proof (the providers'
// signed webhooks, the signed unsubscribe link).
func TestEveryRouteNeedsServiceCredentials(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	open := append(svcauthtest.Probes(), app.PublicRoutes()...)
	for _, p := range svcauthtest.Audit("http://"+h.addr, h.app.Routes(), open, "delivery") {
		t.Error(p)
	}
	// The public routes are the webhooks and the members' link pages
	// (unsubscribe, preferences), no more.
	for _, r := range app.PublicRoutes() {
		if !strings.HasPrefix(r.Pattern, "/webhooks/") && r.Pattern != "/unsubscribe" && r.Pattern != "/prefs/{token}" {
			t.Errorf("%s is public but is neither a provider webhook nor a member's link page", r)
		}
	}
}

// TestRefusesToStartWithoutTrustedCallers: outside development mode
// delivery does not start without trusted callers, and says so before it
// touches anything.
func TestRefusesToStartWithoutTrustedCallers(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	// Real-looking credentials and secrets: what is missing is the
	// callers alone.
	cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.TwilioFrom = "AC"+strings.Repeat("7", 32), strings.Repeat("f3", 16), "+15550001111"
	cfg.UnsubscribeSecret, cfg.ErasureKey = secret.Generate(), secret.Generate()
	_, err := app.New(context.Background(), cfg, zap.NewNop(), app.Options{})
	if err == nil || !strings.Contains(err.Error(), "DELIVERY_TRUSTED_CALLERS is required") {
		t.Fatalf("New = %v, want a refusal naming DELIVERY_TRUSTED_CALLERS", err)
	}
}
