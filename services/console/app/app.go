// Package app assembles the console: configuration, its own database
// (organizers, sessions, API tokens, audit log), Redis for sign-in limits,
// clients for the services' APIs, and the web server.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/limit"
	"github.com/musterhq/muster/services/console/migrations"
	"github.com/musterhq/muster/services/console/retention"
	"github.com/musterhq/muster/services/console/server"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/services/console/upstream"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// Config is the console's configuration, read from CONSOLE_*.
type Config struct {
	service.Config
	// ContactsURL, CampaignsURL and DeliveryURL are the services' APIs.
	ContactsURL  string `env:"CONTACTS_URL" envDefault:"http://127.0.0.1:8081"`
	CampaignsURL string `env:"CAMPAIGNS_URL" envDefault:"http://127.0.0.1:8082"`
	DeliveryURL  string `env:"DELIVERY_URL" envDefault:"http://127.0.0.1:8083"`
	// UpstreamTimeout bounds one call to a service (not uploads or
	// result streams).
	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"15s"`
	// RedisURL holds the sign-in attempt counters, shared by replicas.
	RedisURL    string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	RedisPrefix string `env:"REDIS_PREFIX" envDefault:"muster:"`
	// AdminEmail and AdminPassword make the first admin at start when no
	// admin exists; ignored afterwards.
	AdminEmail    string `env:"ADMIN_EMAIL"`
	AdminPassword string `env:"ADMIN_PASSWORD"`
	// SessionTTL is how long a sign-in lasts.
	SessionTTL time.Duration `env:"SESSION_TTL" envDefault:"12h"`
	// TokenTTL is how long a new API token lasts unless its maker names
	// a number of days (at most a year).
	TokenTTL time.Duration `env:"TOKEN_TTL" envDefault:"2160h"`
	// SecureCookie is auto (Secure over https or behind a proxy saying
	// X-Forwarded-Proto: https), true or false.
	SecureCookie string `env:"SECURE_COOKIE" envDefault:"auto"`
	// SignInLimit attempts per SignInWindow, per email and per address.
	SignInLimit  int           `env:"SIGNIN_LIMIT" envDefault:"10"`
	SignInWindow time.Duration `env:"SIGNIN_WINDOW" envDefault:"15m"`
	// ImportsPerOrganizer and ImportsTotal bound the CSV uploads one
	// organizer (or token), and all of them together, may have in flight
	// at once; StreamsPerOrganizer and StreamsTotal do the same for live
	// result streams. Counted in Redis, across replicas.
	ImportsPerOrganizer int `env:"IMPORTS_PER_ORGANIZER" envDefault:"2"`
	ImportsTotal        int `env:"IMPORTS_TOTAL" envDefault:"8"`
	StreamsPerOrganizer int `env:"STREAMS_PER_ORGANIZER" envDefault:"6"`
	StreamsTotal        int `env:"STREAMS_TOTAL" envDefault:"200"`
	// MaxUpload bounds a signed-in organizer's CSV upload; every other
	// request body is bounded at 1 MiB (web.MaxJSONBody).
	MaxUpload int64 `env:"MAX_UPLOAD" envDefault:"268435456"`
	// RetainAudit is how long audit entries are kept; RetainTokens how
	// long API tokens and emailed links are kept after they expired, were
	// revoked or used (0: for ever); PurgeEvery how often the purge runs
	// (docs/operations.md "Retention").
	RetainAudit  time.Duration `env:"RETAIN_AUDIT" envDefault:"17520h"`
	RetainTokens time.Duration `env:"RETAIN_TOKENS" envDefault:"2160h"`
	PurgeEvery   time.Duration `env:"PURGE_EVERY" envDefault:"1h"`
	// PublicURL is the console's address as organizers reach it (the
	// gateway's, https): invitation and password-reset emails link to
	// it. Empty: in development mode the address the console listens on;
	// otherwise no such emails are sent (an invitation shows a one-time
	// password instead, and a reset request sends nothing).
	PublicURL string `env:"PUBLIC_URL"`
	// TrustedProxies are networks (CIDR, comma-separated) whose
	// X-Forwarded-For is believed when counting sign-in attempts per
	// address: the ingress or load balancer in front. Empty trusts none,
	// which behind a proxy counts every organizer as one address.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`
}

// DefaultConfig is the configuration with every default applied and no
// environment read: what tests and the dev stack start from.
func DefaultConfig() Config {
	var cfg Config
	_ = service.Defaults(&cfg) // tags are fixed at compile time; cannot fail at run time
	cfg.HTTPAddr = "127.0.0.1:8080"
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:5432/muster_console?sslmode=disable"
	return cfg
}

// LoadConfig reads CONSOLE_* over the defaults and checks it.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := service.Load("CONSOLE_", &cfg); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the values the console cannot start without.
func (c Config) Validate() error {
	switch c.SecureCookie {
	case "auto", "true", "false":
	default:
		return fmt.Errorf("CONSOLE_SECURE_COOKIE: want auto, true or false, got %q", c.SecureCookie)
	}
	if c.TokenTTL <= 0 || c.TokenTTL > 365*24*time.Hour {
		return fmt.Errorf("CONSOLE_TOKEN_TTL: want more than 0 and at most a year, got %s", c.TokenTTL)
	}
	if c.ImportsPerOrganizer < 1 || c.ImportsTotal < 1 || c.StreamsPerOrganizer < 1 || c.StreamsTotal < 1 {
		return errors.New("CONSOLE_IMPORTS_* and CONSOLE_STREAMS_* must be at least 1")
	}
	if c.SignInLimit < 1 || c.SignInWindow <= 0 {
		return errors.New("CONSOLE_SIGNIN_LIMIT and CONSOLE_SIGNIN_WINDOW must be positive")
	}
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		return errors.New("set both CONSOLE_ADMIN_EMAIL and CONSOLE_ADMIN_PASSWORD, or neither")
	}
	if !c.DevMode && c.AdminPassword != "" && secret.IsDevelopmentValue(c.AdminPassword) {
		return errors.New("CONSOLE_ADMIN_PASSWORD is a known development value; choose another (it must be changed at first sign-in anyway)")
	}
	if _, err := c.trustedProxies(); err != nil {
		return err
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("CONSOLE_PUBLIC_URL: want a base URL like https://muster.example.org, got %q", c.PublicURL)
		}
		if !c.DevMode && u.Scheme != "https" {
			return errors.New("CONSOLE_PUBLIC_URL: emailed links must use https outside development mode")
		}
	}
	return nil
}

func (c Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("CONSOLE_TRUSTED_PROXIES: %q is not a CIDR network", s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// settings are the console's own values an admin decides about (how
// long sign-ins and tokens last, how many sign-in attempts are allowed),
// in words. Where the console listens, the services' URLs, the database
// and Redis are an operator's business and stay in the deployment, not on
// a page any viewer can read.
func (c Config) settings() []server.Setting {
	return []server.Setting{
		{Name: "A sign-in lasts", Value: c.SessionTTL.String()},
		{Name: "A new API token lasts", Value: fmt.Sprintf("%d days unless its maker says", int(c.TokenTTL/(24*time.Hour)))},
		{Name: "Sign-in attempts", Value: fmt.Sprintf("%d per %s per email and per address", c.SignInLimit, c.SignInWindow)},
		{Name: "Largest CSV import", Value: fmt.Sprintf("%d MiB", c.MaxUpload>>20)},
	}
}

// Options replace parts of the console in tests.
type Options struct {
	// Clock reads the time; nil is time.Now.
	Clock func() time.Time
	// TracerProvider makes the console's spans; a no-op provider when nil.
	TracerProvider trace.TracerProvider
}

// App is a running console.
type App struct {
	deps   *service.Deps
	redis  *redis.Client
	store  *store.Store
	server *web.Server
	// console is the HTTP edge, whose account emails Run waits for.
	console *server.Server
	now     func() time.Time
	// devMode is CONSOLE_DEV_MODE, which make run sets.
	devMode bool
}

// New connects everything, makes the first admin when asked, and listens;
// Run serves.
func New(ctx context.Context, cfg Config, log *zap.Logger, o Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	redisOpts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("parsing CONSOLE_REDIS_URL: %w", err)
	}
	// The console calls the services as itself; its own /metrics are for
	// a trusted caller or the scrape token, never for its public.
	signer, err := cfg.Signer("console", log)
	if err != nil {
		return nil, fmt.Errorf("configuring console: %w", err)
	}
	guard, err := cfg.Config.MetricsGuard("console", log)
	if err != nil {
		return nil, fmt.Errorf("configuring console: %w", err)
	}
	deps, err := service.Open(ctx, "console", cfg.Config, migrations.FS, log, o.TracerProvider)
	if err != nil {
		return nil, fmt.Errorf("starting console: %w", err)
	}
	a := &App{deps: deps, redis: redis.NewClient(redisOpts), store: store.New(deps.Pool, o.Clock), now: o.Clock, devMode: cfg.DevMode}
	deps.Release("redis", a.redis.Close)
	if err := a.start(ctx, cfg, o, signer, guard); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, cfg Config, o Options, signer *svcauth.Signer, guard *svcauth.Guard) error {
	log := a.deps.Log
	if err := a.bootstrapAdmin(ctx, cfg, log); err != nil {
		return err
	}
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return err
	}
	signIns := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "console_signins_total",
		Help: "Sign-in attempts by outcome: ok, failed (a wrong email or password), limited (locked out for a while by the rate limit).",
	}, []string{"outcome"})
	if err := a.deps.Registry.Register(signIns); err != nil {
		return fmt.Errorf("registering sign-in metrics: %w", err)
	}
	srv, err := server.New(server.Deps{
		Store:   a.store,
		SignIns: signIns,
		Limiter: limit.New(a.redis, cfg.RedisPrefix, cfg.SignInLimit, cfg.SignInWindow),
		Uploads: limit.NewSlots(a.redis, cfg.RedisPrefix, "upload", cfg.ImportsPerOrganizer, cfg.ImportsTotal, 30*time.Second),
		Streams: limit.NewSlots(a.redis, cfg.RedisPrefix, "stream", cfg.StreamsPerOrganizer, cfg.StreamsTotal, 30*time.Second),
		Services: upstream.Services{
			Contacts:  upstream.New("contacts", cfg.ContactsURL, cfg.UpstreamTimeout, signer).Traced(o.TracerProvider),
			Campaigns: upstream.New("campaigns", cfg.CampaignsURL, cfg.UpstreamTimeout, signer).Traced(o.TracerProvider),
			Delivery:  upstream.New("delivery", cfg.DeliveryURL, cfg.UpstreamTimeout, signer).Traced(o.TracerProvider),
		},
		Log:            log.Named("http"),
		SessionTTL:     cfg.SessionTTL,
		TokenTTL:       cfg.TokenTTL,
		SecureCookie:   cfg.SecureCookie,
		MaxUpload:      cfg.MaxUpload,
		Settings:       cfg.settings(),
		Now:            o.Clock,
		TrustedProxies: proxies,
		PublicURL:      strings.TrimRight(cfg.PublicURL, "/"),
	})
	if err != nil {
		return err
	}
	a.console = srv
	checks := a.deps.Checks()
	checks["redis"] = func(ctx context.Context) error { return a.redis.Ping(ctx).Err() }
	a.deps.Go(a.sweepSessions)
	purger := retention.New(a.deps.Pool, retention.Policy{Audit: cfg.RetainAudit, Tokens: cfg.RetainTokens}, o.Clock, a.deps.Registry, log.Named("retention"))
	a.deps.Go(func(ctx context.Context) { purger.Run(ctx, max(cfg.PurgeEvery, time.Minute)) })
	// The console's routes are the public edge: they check sessions and
	// API tokens themselves (package server), not service tokens.
	a.server, err = a.deps.NewServer(srv.Routes(), checks, web.MetricsGuard(guard.Metrics))
	if err == nil && srv.PublicURL == "" && cfg.DevMode {
		srv.PublicURL = a.server.URL()
	}
	return err
}

// MarkSetupDone records first-run setup as done without the setup page:
// for a stack whose organization its environment already names, and for
// tests that start past first run.
func (a *App) MarkSetupDone(ctx context.Context, by string) error {
	if err := a.store.MarkSetupDone(ctx, by); err != nil {
		return err
	}
	return a.store.Audit(ctx, store.AuditEntry{ActorID: "system", Actor: "system", Action: "setup.done", Target: "messaging settings", Detail: by})
}

// DevAdminToken makes an admin API token for the development stack, which
// writes it to .run/admin.token so a newcomer can call the API at once. It
// refuses outside development mode: a real deployment's first token is
// made by a signed-in admin.
func (a *App) DevAdminToken(ctx context.Context, name string, ttl time.Duration) (string, error) {
	if !a.devMode {
		return "", errors.New("an admin token is made at start only in development mode")
	}
	tok := account.NewAPIToken()
	t, err := a.store.CreateAPIToken(ctx, store.NewAPIToken{Name: name, Role: account.RoleAdmin, Hash: account.HashSecret(tok), ExpiresAt: a.now().Add(ttl)})
	if err != nil {
		return "", err
	}
	if err := a.store.Audit(ctx, store.AuditEntry{ActorID: "system", Actor: "system", Action: "token.create", Target: "token " + t.ID, Detail: name + " (admin, development mode)"}); err != nil {
		return "", err
	}
	return tok, nil
}

// bootstrapAdmin makes the configured admin when no admin exists, so a
// fresh deployment can be signed in to.
func (a *App) bootstrapAdmin(ctx context.Context, cfg Config, log *zap.Logger) error {
	if cfg.AdminEmail == "" {
		return nil
	}
	has, err := a.store.HasAdmin(ctx)
	if err != nil || has {
		return err
	}
	email, err := account.ParseEmail(cfg.AdminEmail)
	if err != nil {
		return fmt.Errorf("CONSOLE_ADMIN_EMAIL: %w", err)
	}
	if err := account.CheckNewPassword(cfg.AdminPassword); err != nil {
		return fmt.Errorf("CONSOLE_ADMIN_PASSWORD: %w", err)
	}
	hash, err := account.HashPassword(cfg.AdminPassword)
	if err != nil {
		return err
	}
	// Outside development mode the configured password has been in an
	// environment file: the admin must replace it at first sign-in.
	o, err := a.store.CreateOrganizer(ctx, account.Organizer{Email: email, Name: "Admin", Role: account.RoleAdmin, PasswordHash: hash, MustChange: !cfg.DevMode})
	if apperr.KindOf(err) == apperr.KindConflict {
		// The email exists with a lesser role: leave it; an admin can be
		// made by hand.
		return fmt.Errorf("CONSOLE_ADMIN_EMAIL %s already has an account that is not an admin", logging.RedactEmail(email))
	}
	if err != nil {
		return err
	}
	log.Info("made the first admin", logging.Email("email", o.Email))
	return a.store.Audit(ctx, store.AuditEntry{ActorID: "system", Actor: "system", Action: "organizer.bootstrap", Target: o.Email})
}

// sweepSessions deletes expired sessions now and then.
func (a *App) sweepSessions(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := a.store.ExpireSessions(ctx, a.now()); err != nil && ctx.Err() == nil {
			a.deps.Log.Warn("sweeping sessions", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// URL is the base URL the console listens on.
func (a *App) URL() string { return a.server.URL() }

// Store is the console's store, for tests that age sessions.
func (a *App) Store() *store.Store { return a.store }

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	// Password-reset emails finish after their answer: when ctx ends, the
	// server stops only once they have gone, before the store closes.
	serve, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() {
		select {
		case <-ctx.Done():
			a.console.WaitForMail()
			stop()
		case <-serve.Done():
		}
	}()
	return a.deps.Serve(serve, a.server)
}

// Close releases the database pool and the Redis client. It is safe after
// Run has returned and to call twice.
func (a *App) Close() error { return a.deps.Shutdown() }
