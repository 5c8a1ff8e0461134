package app_test

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/services/delivery/app"
)

func TestConfigStringMasksSecrets(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.NATSSeed, cfg.TwilioAuthToken, cfg.SendGridAPIKey, cfg.UnsubscribeSecret = "SUAEXAMPLESEED", "twilio-token-x", "SG.key-x", "unsubscribe-secret-x"
	s := cfg.String()
	for _, secret := range []string{"SUAEXAMPLESEED", "twilio-token-x", "SG.key-x", "unsubscribe-secret-x"} {
		if strings.Contains(s, secret) {
			t.Errorf("String shows %q", secret)
		}
	}
}
