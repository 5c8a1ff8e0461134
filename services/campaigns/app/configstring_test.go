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
	for _, secret := range []string{"SUAEXAMPLESEED", "link-secret-link-secret-link-secret"} {
		if strings.Contains(s, secret) {
			t.Errorf("String shows %q", secret)
		}
	}
}
