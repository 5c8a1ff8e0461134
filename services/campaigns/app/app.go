// Package app assembles the campaigns service: the API, the scheduler, the
// fan-out runner and the consumer of delivery's events (results, replies).
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/api"
	"github.com/musterhq/muster/services/campaigns/contacts"
	"github.com/musterhq/muster/services/campaigns/fanout"
	"github.com/musterhq/muster/services/campaigns/inbound"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/orgname"
	"github.com/musterhq/muster/services/campaigns/results"
	"github.com/musterhq/muster/services/campaigns/retention"
	"github.com/musterhq/muster/services/campaigns/schedule"
	"github.com/musterhq/muster/services/campaigns/sender"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/services/campaigns/token"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// Config is the campaigns service's configuration, read from CAMPAIGNS_*.
type Config struct {
	service.Config
	FanoutPageSize int           `env:"FANOUT_PAGE_SIZE" envDefault:"1000"`
	FanoutLease    time.Duration `env:"FANOUT_LEASE" envDefault:"30s"`
	FanoutPoll     time.Duration `env:"FANOUT_POLL" envDefault:"1s"`
	// FanoutWindow bounds the messages of send requests (up to 100
	// each) published and not yet acknowledged by JetStream.
	FanoutWindow int `env:"FANOUT_WINDOW" envDefault:"4000"`
	// SchedulePoll is how often due steps (scheduled launches,
	// reminders) are looked for.
	SchedulePoll time.Duration `env:"SCHEDULE_POLL" envDefault:"1s"`
	// ReplicaName names this replica in fan-out leases; the host name by
	// default.
	ReplicaName string `env:"REPLICA_NAME"`
	// OrgName is the union's name, for {{org_name}} and the first-message
	// check; OrgTimeZone is its time zone, for meetings given none.
	OrgName     string `env:"ORG_NAME" envDefault:"Muster"`
	OrgTimeZone string `env:"ORG_TIME_ZONE" envDefault:"America/New_York"`
	// DefaultRegion reads phone numbers typed without a country code (a
	// test send's), as contacts' CONTACTS_DEFAULT_REGION does.
	DefaultRegion string `env:"DEFAULT_REGION" envDefault:"US"`
	// PublicURL is where members reach this service's RSVP and signing
	// pages; the listen address when empty (fine on one host).
	PublicURL string `env:"PUBLIC_URL"`
	// LinkSecret signs members' one-click links; every replica needs the
	// same one. Required outside development mode, where an empty one is
	// made up per process (links then die with it).
	LinkSecret string `env:"LINK_SECRET"`
	// LinkSecretPrevious lists (comma-separated) keys that signed links
	// still out there: they verify, the current key signs. Rotate by
	// moving the current key here and setting a new one.
	LinkSecretPrevious string `env:"LINK_SECRET_PREVIOUS"`
	// SignLinkTTL is how long a petition's signing link works.
	SignLinkTTL time.Duration `env:"SIGN_LINK_TTL" envDefault:"720h"`
	// ReplyWindow is how far back a member's campaigns are candidates for
	// their reply (a meeting still to come always is).
	ReplyWindow time.Duration `env:"REPLY_WINDOW" envDefault:"168h"`
	// SMSRate (segments per second) and EmailRate (emails per second) are
	// the senders' rates, for the estimated send time before launch.
	SMSRate   float64 `env:"SMS_RATE" envDefault:"1"`
	EmailRate float64 `env:"EMAIL_RATE" envDefault:"100"`
	// ResultsWorkers handle delivery's events concurrently.
	ResultsWorkers int `env:"RESULTS_WORKERS" envDefault:"16"`
	// RetainInbox is how long a member's reply is kept once an organizer
	// handled it (with their answer), and a reply on a campaign after it
	// came (0: for ever); PurgeEvery how often the purge runs
	// (docs/operations.md "Retention").
	RetainInbox time.Duration `env:"RETAIN_INBOX" envDefault:"4320h"`
	PurgeEvery  time.Duration `env:"PURGE_EVERY" envDefault:"1h"`
}

// DefaultConfig is the configuration with every default applied and no
// environment read.
func DefaultConfig() Config {
	var cfg Config
	_ = service.Defaults(&cfg) // tags are fixed at compile time; cannot fail at run time
	cfg.HTTPAddr = "127.0.0.1:8082"
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:5432/muster_campaigns?sslmode=disable"
	return cfg
}

// LoadConfig reads CAMPAIGNS_* over the defaults. It does not judge the
// values: New does, before connecting anything, so `campaigns migrate`
// needs only the database and not the secrets of a service that serves.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := service.Load("CAMPAIGNS_", &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate judges the values as New does before connecting anything; the
// operator CLI's `muster check` calls it on a deployment's environment.
func (c Config) Validate() error { return c.validate() }

func (c Config) validate() error {
	var errs []error
	if _, err := time.LoadLocation(c.OrgTimeZone); err != nil || c.OrgTimeZone == "" {
		errs = append(errs, fmt.Errorf("CAMPAIGNS_ORG_TIME_ZONE: %q is not a time zone", c.OrgTimeZone))
	}
	if err := secret.Check("CAMPAIGNS_LINK_SECRET", c.LinkSecret, secret.MinLength, c.DevMode); err != nil {
		errs = append(errs, err)
	}
	if c.LinkSecret != "" {
		if _, err := c.linkKeys(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.SMSRate < 0 || c.EmailRate < 0 {
		errs = append(errs, errors.New("CAMPAIGNS_SMS_RATE and CAMPAIGNS_EMAIL_RATE cannot be negative"))
	}
	return errors.Join(errs...)
}

// linkKeys is the keyring of the link secrets.
func (c Config) linkKeys() (secret.Keyring, error) {
	k, err := secret.NewKeyring([]byte(c.LinkSecret), secret.SplitList(c.LinkSecretPrevious)...)
	if err != nil {
		return secret.Keyring{}, fmt.Errorf("CAMPAIGNS_LINK_SECRET and _PREVIOUS: %w", err)
	}
	return k, nil
}

// String shows the configuration with its secrets masked, for the log.
func (c Config) String() string {
	m := c
	if m.LinkSecret != "" {
		m.LinkSecret = "****"
	}
	if m.LinkSecretPrevious != "" {
		m.LinkSecretPrevious = "****"
	}
	return service.Describe(c.Config, m)
}

// Options are the parts a test may replace; production passes none.
type Options struct {
	// Clock drives schedules, reminders, link expiry and reply windows.
	Clock func() time.Time
	// TracerProvider makes the service's spans; a no-op provider when nil.
	TracerProvider trace.TracerProvider
}

// App is a running campaigns service.
type App struct {
	deps      *service.Deps
	server    *web.Server
	hub       *results.Hub
	scheduler *schedule.Scheduler
	fan       *fanout.Fanout
}

// New connects everything and starts consuming; Run serves HTTP and
// Close releases what New acquired.
func New(ctx context.Context, cfg Config, log *zap.Logger, o Options) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuring campaigns: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	guard, err := cfg.APIGuard("campaigns", log)
	if err != nil {
		return nil, fmt.Errorf("configuring campaigns: %w", err)
	}
	deps, err := service.Open(ctx, "campaigns", cfg.Config, migrations.FS, log, o.TracerProvider)
	if err != nil {
		return nil, fmt.Errorf("starting campaigns: %w", err)
	}
	deps.Clock = o.Clock
	a := &App{deps: deps, hub: results.NewHub()}
	if err := a.start(ctx, cfg, o, guard); err != nil {
		deps.Close(ctx)
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, cfg Config, o Options, guard *svcauth.Guard) error {
	log := a.deps.Log
	st := store.New(a.deps.Pool, o.Clock)
	owner := cfg.ReplicaName
	if owner == "" {
		host, _ := os.Hostname()
		owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), events.NewID()[:6])
	}
	if cfg.LinkSecret == "" { // development mode only: validate refuses it otherwise
		cfg.LinkSecret = secret.Generate()
		log.Warn("no CAMPAIGNS_LINK_SECRET: RSVP and signing links will stop working when this process stops")
	}
	keys, err := cfg.linkKeys()
	if err != nil {
		return err
	}
	// The server listens first, so links can name its address when no
	// public URL is configured; the routes are added before it serves.
	// Only the member-facing pages answer without service credentials.
	router := chi.NewRouter()
	if a.server, err = a.deps.NewServer(guard.Protect(router, api.PublicRoutes()), a.deps.Checks(), web.MetricsGuard(guard.Metrics)); err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = a.server.URL()
	}
	org := orgname.New(st, cfg.OrgName, log.Named("orgname"))
	if err := org.Refresh(ctx); err != nil {
		log.Warn("stored organization name not read; using CAMPAIGNS_ORG_NAME until it is", zap.Error(err))
	}
	a.deps.Go(func(ctx context.Context) { org.Run(ctx, 5*time.Second) })
	settings := message.Settings{OrgName: cfg.OrgName, Org: org.Name, Links: message.NewLinks(token.NewSigner(keys), publicURL, cfg.SignLinkTTL)}
	cc := contacts.New(a.deps.NC, 10*time.Second)
	send := sender.New(a.deps.JS)
	a.fan, err = fanout.New(fanout.Config{PageSize: cfg.FanoutPageSize, Lease: cfg.FanoutLease, Poll: cfg.FanoutPoll, Window: cfg.FanoutWindow},
		st, cc, a.deps.NC, owner, settings, o.Clock, log.Named("fanout"))
	if err != nil {
		return err
	}
	if _, err := a.fan.Traced(o.TracerProvider).Counted(a.deps.Registry); err != nil {
		return err
	}
	a.scheduler = schedule.New(st, o.Clock, cfg.SchedulePoll, a.fan, log.Named("schedule"))
	a.deps.Go(a.fan.Run)
	a.deps.Go(a.scheduler.Run)

	statusHandler, statusesHandler := results.Status(st, a.hub), results.Statuses(st, a.hub)
	replies := inbound.New(st, send, settings, o.Clock, cfg.ReplyWindow, a.hub, log.Named("inbound"))
	err = a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamMessages, Durable: "campaigns-results", Workers: cfg.ResultsWorkers,
	}, func(ctx context.Context, m stream.Msg) error {
		switch {
		case strings.HasPrefix(m.Subject, events.SubjectStatusPrefix):
			ev, err := events.Decode[events.StatusChanged](m.Data)
			if err != nil {
				return stream.Permanent(err)
			}
			return statusHandler(ctx, ev)
		case m.Subject == events.SubjectStatuses:
			ev, err := events.Decode[events.StatusesChanged](m.Data)
			if err != nil {
				return stream.Permanent(err)
			}
			return statusesHandler(ctx, ev)
		case m.Subject == events.SubjectInbound:
			ev, err := events.Decode[events.InboundReceived](m.Data)
			if err != nil {
				return stream.Permanent(err)
			}
			return replies.Handle(ctx, ev)
		}
		// An event this release does not know (a newer delivery rolled out
		// first) is kept in the dead-letter stream to be retried after the
		// upgrade, never acknowledged unread.
		return stream.Permanent(fmt.Errorf("no handler for subject %s", m.Subject))
	})
	if err != nil {
		return err
	}
	err = a.deps.Consume(ctx, stream.Consumer{Stream: events.StreamErasure, Durable: "campaigns-erasure", Workers: 1},
		erasure.Handler(st, log.Named("erasure")))
	if err != nil {
		return err
	}
	api.New(api.Config{OrgZone: cfg.OrgTimeZone, Region: cfg.DefaultRegion, SMSRate: cfg.SMSRate, EmailRate: cfg.EmailRate}, api.Deps{
		Store: st, Fanout: a.fan, Scheduler: a.scheduler, Contacts: cc, Sender: send, Settings: settings, Org: org,
		Hub: a.hub, Clock: o.Clock, Log: log.Named("api"),
	}).Routes(router)
	purger := retention.New(a.deps.Pool, cfg.RetainInbox, o.Clock, a.deps.Registry, log.Named("retention"))
	a.deps.Go(func(ctx context.Context) { purger.Run(ctx, max(cfg.PurgeEvery, time.Minute)) })
	router.Post("/purge", purger.Handler(log.Named("retention")))
	return nil
}

// URL is the base URL the API listens on.
func (a *App) URL() string { return a.server.URL() }

// Routes is every route the service answers, for the security suite.
func (a *App) Routes() chi.Routes { return a.server.Routes() }

// Tick starts every step due now at once, for tests that move the clock
// rather than wait for the scheduler's next look.
func (a *App) Tick(ctx context.Context) (int, error) { return a.scheduler.Tick(ctx) }

// Run serves until ctx ends, then shuts down gracefully; live result
// streams are ended first so they do not hold the HTTP shutdown.
func (a *App) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, a.hub.Close)
	defer stop()
	return a.deps.Serve(ctx, a.server)
}

// Close ends live result streams and releases the database pool and the
// NATS connection. It is safe after Run has returned and to call twice.
func (a *App) Close() error {
	a.hub.Close()
	return a.deps.Shutdown()
}
