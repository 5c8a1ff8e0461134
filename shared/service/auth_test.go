package service

import (
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/svcauth"
)

func TestCredentialsRequiredOutsideDevMode(t *testing.T) {
	seed, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		cfg     Config
		build   func(Config) error
		wantErr string // empty: starts
	}{
		{"api without trusted callers", Config{}, apiGuard("contacts"), "CONTACTS_TRUSTED_CALLERS is required"},
		{"api without trusted callers, dev mode", Config{DevMode: true}, apiGuard("contacts"), ""},
		{"api with a bad entry, even in dev mode", Config{DevMode: true, TrustedCallers: "console=no!pe"}, apiGuard("delivery"), "DELIVERY_TRUSTED_CALLERS: caller console: "},
		{"api with a caller", Config{TrustedCallers: "console=" + public}, apiGuard("campaigns"), ""},
		{"short metrics token", Config{TrustedCallers: "console=" + public, MetricsToken: "short"}, apiGuard("campaigns"), "CAMPAIGNS_METRICS_TOKEN must be at least 32"},
		{"metrics only, nothing set", Config{}, metricsGuard("console"), ""},
		{"caller without a key", Config{}, signer("console"), "CONSOLE_SERVICE_KEY is required"},
		{"caller without a key, dev mode", Config{DevMode: true}, signer("console"), ""},
		{"caller with a bad key", Config{ServiceKey: public + "AAAA"}, signer("console"), "CONSOLE_SERVICE_KEY: "},
		{"caller with a key", Config{ServiceKey: seed}, signer("console"), ""},
	}
	for _, c := range cases {
		err := c.build(c.cfg)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: err = %v, want %q", c.name, err, c.wantErr)
		case err != nil && strings.Contains(err.Error(), seed):
			t.Errorf("%s: the error quotes the key", c.name)
		}
	}
}

func apiGuard(name string) func(Config) error {
	return func(c Config) error { _, err := c.APIGuard(name, zap.NewNop()); return err }
}

func metricsGuard(name string) func(Config) error {
	return func(c Config) error { _, err := c.MetricsGuard(name, zap.NewNop()); return err }
}

func signer(name string) func(Config) error {
	return func(c Config) error { _, err := c.Signer(name, zap.NewNop()); return err }
}
