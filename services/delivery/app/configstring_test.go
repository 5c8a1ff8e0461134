package app_test

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/services/delivery/app"
)

func TestConfigStringMasksSecrets(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.NATSSeed, cfg.TwilioAuthToken, cfg.SendGridAPIKey, cfg.UnsubscribeSecret = "SUAEXAMPLESEED", "twilio-token-x", "SG.key-x", "unsubscribe-secret-x"
	cfg.SendGridInboundSecret, cfg.SendGridInboundSecretPrevious = "inbound-secret-x", "inbound-previous-x"
	cfg.ErasureKey = "erasure-key-x"
	s := cfg.String()
	// The service's own settings are shown too, not only the shared ones.
	if !strings.Contains(s, "SendWindow:08:00-21:00") || !strings.Contains(s, "LogLevel:info") {
		t.Errorf("String = %s, want the shared and the service's own settings", s)
	}
	for _, secret := range []string{"SUAEXAMPLESEED", "twilio-token-x", "SG.key-x", "unsubscribe-secret-x", "inbound-secret-x", "inbound-previous-x", "erasure-key-x"} {
		if strings.Contains(s, secret) {
			t.Errorf("String shows %q", secret)
		}
	}
}
