package service_test

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/service"
)

func TestConfigStringMasksSecrets(t *testing.T) {
	cfg := service.Config{
		DatabaseURL: "postgres://muster:db-password@db:5432/muster_contacts",
		NATSSeed:    "SUAEXAMPLESEEDVALUE", NATSURL: "tls://nats-1:4222",
		ServiceKey:     "c2VydmljZS1rZXktc2VlZC0zMi1ieXRlcy1sb25nISE=",
		MetricsToken:   "scrape-0123456789abcdef0123456789abcdef",
		TrustedCallers: "console=cHVibGljLWtleS1pcy1ub3QtYS1zZWNyZXQtMzJieXQ=",
	}
	s := cfg.String()
	for _, secret := range []string{"db-password", cfg.NATSSeed, cfg.ServiceKey, cfg.MetricsToken} {
		if strings.Contains(s, secret) {
			t.Errorf("String shows %q: %s", secret, s)
		}
	}
	// Public keys and addresses are not secrets; a set secret says so.
	for _, shown := range []string{"tls://nats-1:4222", cfg.TrustedCallers, "ServiceKey:****"} {
		if !strings.Contains(s, shown) {
			t.Errorf("String hides %q: %s", shown, s)
		}
	}
}
