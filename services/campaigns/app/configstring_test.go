package app_test

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/services/campaigns/app"
)

func TestConfigStringMasksSecrets(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.NATSSeed, cfg.LinkSecret = "SUAEXAMPLESEED", "link-secret-link-secret-link-secret"
	s := cfg.String()
	// The service's own settings are shown too, not only the shared ones.
	if !strings.Contains(s, "OrgTimeZone:America/New_York") || !strings.Contains(s, "LogLevel:info") {
		t.Errorf("String = %s, want the shared and the service's own settings", s)
	}
	for _, secret := range []string{"SUAEXAMPLESEED", "link-secret-link-secret-link-secret"} {
		if strings.Contains(s, secret) {
			t.Errorf("String shows %q", secret)
		}
	}
}
