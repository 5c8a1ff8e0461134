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
	}
	s := cfg.String()
	for _, secret := range []string{"db-password", "SUAEXAMPLESEEDVALUE"} {
		if strings.Contains(s, secret) {
			t.Errorf("String shows %q: %s", secret, s)
		}
	}
	if !strings.Contains(s, "tls://nats-1:4222") {
		t.Errorf("String hides what is not secret: %s", s)
	}
}
