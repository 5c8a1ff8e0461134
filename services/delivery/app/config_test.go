package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
)

// The development values secret refuses are the simulator's own.
func TestSimulatorCredentialsAreKnownDevelopmentValues(t *testing.T) {
	if secret.SimulatorAccountSID != sim.DefaultAccountSID || secret.SimulatorAuthToken != sim.DefaultAuthToken {
		t.Fatal("shared/secret's copy of the simulator's credentials differs from the simulator's")
	}
}

// Outside development mode delivery refuses to start on a missing, short
// or development secret, or on real credentials pointed anywhere but the
// provider, naming what to fix; nothing is connected first.
func TestSecretsAreRequiredOutsideDevelopmentMode(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	webhookKey := base64.StdEncoding.EncodeToString(der)
	real := func() app.Config {
		c := app.DefaultConfig()
		c.TwilioAccountSID, c.TwilioAuthToken, c.TwilioFrom = "AC"+strings.Repeat("7", 32), strings.Repeat("f3", 16), "+15550001111"
		c.UnsubscribeSecret = secret.Generate()
		c.ErasureKey = secret.Generate()
		c.SendGridAPIKey, c.SendGridWebhookKey = "SG."+secret.Generate(), webhookKey
		c.InboundEmailDomain, c.SendGridInboundSecret = "replies.local1199.org", secret.Generate()
		c.TrustedCallers = svcauthtest.Trusted()
		return c
	}
	// The real configuration itself passes validation: it fails only on
	// the database nobody listens at.
	c := real()
	c.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	if _, err := app.New(context.Background(), c, zap.NewNop(), app.Options{}); err == nil || strings.Contains(err.Error(), "configuring delivery") {
		t.Fatalf("a real configuration was refused: %v", err)
	}
	for _, tt := range []struct {
		name   string
		change func(*app.Config)
		want   string
	}{
		{"no unsubscribe secret", func(c *app.Config) { c.UnsubscribeSecret = "" }, "DELIVERY_UNSUBSCRIBE_SECRET is required"},
		{"no erasure key", func(c *app.Config) { c.ErasureKey = "" }, "DELIVERY_ERASURE_KEY is required"},
		{"short unsubscribe secret", func(c *app.Config) { c.UnsubscribeSecret = "short" }, "DELIVERY_UNSUBSCRIBE_SECRET must be at least"},
		{"compose's old default", func(c *app.Config) { c.UnsubscribeSecret = "dev-only-unsubscribe-secret-change-me-please" }, "known development value"},
		{"short previous key", func(c *app.Config) { c.UnsubscribeSecretPrevious = "short" }, "_PREVIOUS"},
		{"the simulator's token", func(c *app.Config) { c.TwilioAuthToken = sim.DefaultAuthToken }, "DELIVERY_TWILIO_AUTH_TOKEN is a known development value"},
		{"the simulator's account", func(c *app.Config) { c.TwilioAccountSID = sim.DefaultAccountSID }, "DELIVERY_TWILIO_ACCOUNT_SID is the simulator's"},
		{"real token to the simulator", func(c *app.Config) { c.TwilioAPIURL = "http://simulator:8090" }, "DELIVERY_TWILIO_API_URL"},
		{"real token over http", func(c *app.Config) { c.TwilioAPIURL = "http://api.twilio.com" }, "DELIVERY_TWILIO_API_URL"},
		{"real key to another host", func(c *app.Config) { c.SendGridAPIURL = "https://sendgrid.evil.example" }, "DELIVERY_SENDGRID_API_URL"},
		{"email without the webhook key", func(c *app.Config) { c.SendGridWebhookKey = "" }, "DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY is required"},
		{"replies without the inbound secret", func(c *app.Config) { c.SendGridInboundSecret = "" }, "DELIVERY_SENDGRID_INBOUND_SECRET is required"},
		{"a development inbound secret", func(c *app.Config) { c.SendGridInboundSecret = "dev-only-sendgrid-inbound-secret-change-me" }, "known development value"},
		{"an inbound secret unfit for a path", func(c *app.Config) { c.SendGridInboundSecret = strings.Repeat("a/b?", 10) }, "URL path segment"},
		{"a short previous inbound secret", func(c *app.Config) { c.SendGridInboundSecretPrevious = "short" }, "DELIVERY_SENDGRID_INBOUND_SECRET and _PREVIOUS"},
		{"a reply domain that is not one", func(c *app.Config) { c.InboundEmailDomain = "reply@local1199.org" }, "DELIVERY_INBOUND_EMAIL_DOMAIN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := real()
			tt.change(&c)
			_, err := app.New(context.Background(), c, zap.NewNop(), app.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// The same values pass in development mode (make run).
	c = real()
	c.DevMode, c.UnsubscribeSecret, c.TwilioAuthToken, c.TwilioAPIURL = true, "", sim.DefaultAuthToken, "http://127.0.0.1:1"
	c.SendGridInboundSecret = ""
	c.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	if _, err := app.New(context.Background(), c, zap.NewNop(), app.Options{}); err == nil || strings.Contains(err.Error(), "configuring delivery") {
		t.Fatalf("development mode refused the configuration: %v", err)
	}
}
