package app

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/receive"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/secret"
)

// pathSecretRe is what a secret in a URL path may hold: unreserved
// characters only, so SendGrid's settings and every proxy carry it as is.
var pathSecretRe = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// hostRe is a plain DNS name: the reply addresses' domain.
var hostRe = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

// emailReplyErrors checks the email-reply settings: with a domain, the
// webhook's path secret is required outside development mode, like every
// secret, and each key (current and previous) must fit in a URL path.
func (c Config) emailReplyErrors() []error {
	if c.InboundEmailDomain == "" {
		return nil
	}
	var errs []error
	if !hostRe.MatchString(c.InboundEmailDomain) {
		errs = append(errs, fmt.Errorf("DELIVERY_INBOUND_EMAIL_DOMAIN %q is not a domain name", c.InboundEmailDomain))
	}
	if err := secret.Check("DELIVERY_SENDGRID_INBOUND_SECRET", c.SendGridInboundSecret, secret.MinLength, c.DevMode); err != nil {
		errs = append(errs, err)
	}
	if c.SendGridInboundSecret != "" {
		for _, k := range append(secret.SplitList(c.SendGridInboundSecretPrevious), []byte(c.SendGridInboundSecret)) {
			if !pathSecretRe.Match(k) {
				errs = append(errs, errors.New("DELIVERY_SENDGRID_INBOUND_SECRET and _PREVIOUS may hold only A-Z a-z 0-9 . _ ~ - (they are a URL path segment)"))
				break
			}
		}
		if _, err := c.inboundKeys(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// inboundKeys are the path secrets the inbound webhook accepts, the
// current one first.
func (c Config) inboundKeys() (secret.Keyring, error) {
	k, err := secret.NewKeyring([]byte(c.SendGridInboundSecret), secret.SplitList(c.SendGridInboundSecretPrevious)...)
	if err != nil {
		return secret.Keyring{}, fmt.Errorf("DELIVERY_SENDGRID_INBOUND_SECRET and _PREVIOUS: %w", err)
	}
	return k, nil
}

// startEmailReplies mounts SendGrid's Inbound Parse webhook when a reply
// domain is configured; without one, campaign emails carry no Reply-To
// and nothing listens.
func (a *App) startEmailReplies(r chi.Router, cfg Config, st *store.Store, src *settings.Source, clock func() time.Time) error {
	if cfg.InboundEmailDomain == "" {
		return nil
	}
	log := a.deps.Log
	if cfg.SendGridInboundSecret == "" { // development mode only: validate refuses it otherwise
		cfg.SendGridInboundSecret = secret.Generate()
		log.Warn("no DELIVERY_SENDGRID_INBOUND_SECRET: made one up; Inbound Parse posts will be refused until it is set")
	}
	keys, err := cfg.inboundKeys()
	if err != nil {
		return err
	}
	// Confirmations go straight to SendGrid, not through the send
	// pipeline: the address is suppressed by then, and the pipeline
	// rightly sends nothing to a suppressed address.
	org := func() string { return src.Current().Settings.OrgName }
	var mail receive.Mailer
	if cfg.SendGridAPIKey != "" {
		mail = cfg.sendGrid(org, a.deps.TracerProvider)
	}
	zone := func() *time.Location { return src.Rules().Zone }
	replies := receive.NewEmailReplies(st, mail, cfg.InboundEmailDomain, org, zone, clock, log.Named("email_reply"))
	sendgrid.NewInboundWebhook(keys.All(), replies, log.Named("sendgrid_inbound")).Routes(r)
	log.Info("email replies on", zap.String("domain", cfg.InboundEmailDomain))
	return nil
}
