package app_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"

	campaignsapi "github.com/musterhq/muster/services/campaigns/api"
	"github.com/musterhq/muster/services/campaigns/app"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
)

// TestEveryRouteNeedsServiceCredentials is the security table of
// campaigns: every route of the running service, as its router lists
// them, refuses a call without valid service credentials, except the
// probes and the member-facing RSVP and signing pages (whose links carry
// a signed token of their own).
func TestEveryRouteNeedsServiceCredentials(t *testing.T) {
	h := newHarness(t, true, nil)
	r := h.start()
	open := append(svcauthtest.Probes(), campaignsapi.PublicRoutes()...)
	for _, p := range svcauthtest.Audit(r.url, r.app.Routes(), open, "campaigns") {
		t.Error(p)
	}
	// The public pages are few, and each is a members' link page.
	for _, route := range campaignsapi.PublicRoutes() {
		if !strings.HasPrefix(route.Pattern, "/rsvp/") && !strings.HasPrefix(route.Pattern, "/sign/") {
			t.Errorf("%s is public but is not a member's link page", route)
		}
	}
	if p := svcauthtest.Metrics(r.url, "campaigns"); p != "" {
		t.Error(p)
	}
}

// TestRefusesToStartWithoutTrustedCallers: outside development mode
// campaigns does not start without trusted callers, and says so before
// it touches anything.
func TestRefusesToStartWithoutTrustedCallers(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?sslmode=disable"
	cfg.LinkSecret = secret.Generate() // what is missing is the callers alone
	_, err := app.New(context.Background(), cfg, zap.NewNop(), app.Options{})
	if err == nil || !strings.Contains(err.Error(), "CAMPAIGNS_TRUSTED_CALLERS is required") {
		t.Fatalf("New = %v, want a refusal naming CAMPAIGNS_TRUSTED_CALLERS", err)
	}
}
