// Package app assembles the contacts service: configuration, dependencies,
// the HTTP API, the audience responder, the consent and rhythm consumers,
// the consent outbox relay and the import runner.
package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/api"
	"github.com/musterhq/muster/services/contacts/audience"
	"github.com/musterhq/muster/services/contacts/importer"
	"github.com/musterhq/muster/services/contacts/ledger"
	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/services/contacts/retention"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/outbox"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// Config is the contacts service's configuration, read from CONTACTS_*.
type Config struct {
	service.Config
	// DefaultRegion reads phone numbers typed without a country code.
	DefaultRegion string `env:"DEFAULT_REGION" envDefault:"US"`
	// ImportDir holds uploaded files while their import runs; empty is
	// the system's temporary directory.
	ImportDir string `env:"IMPORT_DIR"`
	// ImportMaxBytes is the largest CSV file accepted (1 GiB by default,
	// several million rows).
	ImportMaxBytes int64 `env:"IMPORT_MAX_BYTES" envDefault:"1073741824"`
	// ImportBatchSize is how many rows one import transaction merges.
	ImportBatchSize int `env:"IMPORT_BATCH_SIZE" envDefault:"5000"`
	// ImportWorkers normalize rows in parallel; 0 is one per CPU.
	ImportWorkers int `env:"IMPORT_WORKERS" envDefault:"0"`
	// OutboxPoll is how often queued consent events are looked for besides
	// being published at once after each change.
	OutboxPoll time.Duration `env:"OUTBOX_POLL" envDefault:"2s"`
	// ErasureKey keys the hash an erased member's addresses are kept as
	// on the consent ledger (package erasure): required outside
	// development mode, 32+ characters, never rotated.
	ErasureKey string `env:"ERASURE_KEY"`
	// RetainImports is how long an ended import's record, its error and
	// merge reports, and an upload it left behind are kept (0: for ever);
	// PurgeEvery how often the purge runs (docs/operations.md
	// "Retention").
	RetainImports time.Duration `env:"RETAIN_IMPORTS" envDefault:"720h"`
	PurgeEvery    time.Duration `env:"PURGE_EVERY" envDefault:"1h"`
}

// DefaultConfig is the configuration with every default applied and no
// environment read: what tests and the dev stack start from.
func DefaultConfig() Config {
	var cfg Config
	_ = service.Defaults(&cfg) // tags are fixed at compile time; cannot fail at run time
	cfg.HTTPAddr = "127.0.0.1:8081"
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:5432/muster_contacts?sslmode=disable"
	return cfg
}

// LoadConfig reads CONTACTS_* over the defaults.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := service.Load("CONTACTS_", &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// PublicRoutes are the routes of contacts that answer without service
// credentials: none. Every route is for the console (or an operator)
// alone; the security suite holds the router to this list.
func PublicRoutes() []svcauth.Route { return nil }

// App is a running contacts service.
type App struct {
	deps   *service.Deps
	server *web.Server
}

// Options replaces parts of the service, for tests.
type Options struct {
	// Clock stamps and compares every time contacts keeps (imports'
	// heartbeats, consent records); time.Now when nil.
	Clock func() time.Time
	// TracerProvider makes the service's spans; a no-op provider when nil.
	TracerProvider trace.TracerProvider
}

// New connects everything and starts consuming; Run serves HTTP and
// Close releases what New acquired.
func New(ctx context.Context, cfg Config, log *zap.Logger, o Options) (*App, error) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	guard, err := cfg.APIGuard("contacts", log)
	if err != nil {
		return nil, fmt.Errorf("configuring contacts: %w", err)
	}
	key, err := erasure.NewKey("CONTACTS_ERASURE_KEY", cfg.ErasureKey, cfg.DevMode)
	if err != nil {
		return nil, fmt.Errorf("configuring contacts: %w", err)
	}
	deps, err := service.Open(ctx, "contacts", cfg.Config, migrations.FS, log, o.TracerProvider)
	if err != nil {
		return nil, fmt.Errorf("starting contacts: %w", err)
	}
	deps.Clock = o.Clock
	a := &App{deps: deps}
	if err := a.start(ctx, cfg, o, guard, key); err != nil {
		deps.Close(ctx)
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, cfg Config, o Options, guard *svcauth.Guard, key erasure.Key) error {
	st := store.New(a.deps.Pool, o.Clock).WithErasureKey(key)
	log := a.deps.Log
	responder := audience.NewResponder(st, log.Named("audience"))
	queries, err := responder.SubscribeQueries(a.deps.NC)
	if err != nil {
		return err
	}
	for _, q := range queries {
		a.deps.Subscribed(q)
	}
	sub, err := responder.Subscribe(a.deps.NC)
	if err != nil {
		return err
	}
	a.deps.Subscribed(sub)
	// One worker: consent changes for an address are applied in order.
	err = a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamConsent, Durable: "contacts-consent", Workers: 1,
	}, ledger.ConsentHandler(st, log.Named("consent")))
	if err != nil {
		return err
	}
	// Rhythm changes settle by their own time, so any order will do; one
	// worker keeps the member page's history in arrival order too.
	err = a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamRhythm, Durable: "contacts-rhythm", Workers: 1,
	}, ledger.RhythmHandler(st, log.Named("rhythm")))
	if err != nil {
		return err
	}
	relay := outbox.NewRelay(a.deps.Pool, a.deps.JS, cfg.OutboxPoll, log.Named("outbox"))
	a.deps.Go(relay.Run)
	if err := outbox.RegisterBacklog(a.deps.Registry, a.deps.Pool, "contacts"); err != nil {
		return err
	}
	imp := importer.New(st, importer.Options{Region: cfg.DefaultRegion, BatchSize: cfg.ImportBatchSize, Workers: cfg.ImportWorkers}, log.Named("importer"))
	rows := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "contacts_import_rows_total",
		Help: "Rows of CSV imports (not dry runs), by what became of each: new, updated, unchanged, merged or rejected.",
	}, []string{"outcome"})
	if err := a.deps.Registry.Register(rows); err != nil {
		return fmt.Errorf("registering import metrics: %w", err)
	}
	countRows := func(c store.ImportCounts) {
		for outcome, n := range map[string]int64{"new": c.New, "updated": c.Updated, "unchanged": c.Unchanged, "merged": c.Merged, "rejected": c.Rejected} {
			rows.WithLabelValues(outcome).Add(float64(n))
		}
	}
	runner := importer.NewRunner(imp, st, importer.RunnerConfig{Dir: cfg.ImportDir, MaxBytes: cfg.ImportMaxBytes, Done: countRows}, log.Named("importer"))
	a.deps.Go(runner.Loop)
	purger := retention.New(a.deps.Pool, cfg.RetainImports, cfg.ImportDir, o.Clock, a.deps.Registry, log.Named("retention"))
	a.deps.Go(func(ctx context.Context) { purger.Run(ctx, max(cfg.PurgeEvery, time.Minute)) })
	h := api.New(api.Deps{Store: st, Imports: runner, ConsentQueued: relay.Wake, Region: cfg.DefaultRegion, Log: log.Named("api")})
	routes := h.Routes()
	routes.Post("/purge", purger.Handler(log.Named("retention")))
	a.server, err = a.deps.NewServer(guard.Protect(routes, PublicRoutes()), a.deps.Checks(), web.MetricsGuard(guard.Metrics))
	return err
}

// Routes is every route the service answers, for the security suite.
func (a *App) Routes() chi.Routes { return a.server.Routes() }

// URL is the base URL the API listens on.
func (a *App) URL() string { return a.server.URL() }

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error { return a.deps.Serve(ctx, a.server) }

// Close releases the database pool and the NATS connection. It is safe
// after Run has returned (which already released them) and to call twice.
func (a *App) Close() error { return a.deps.Shutdown() }
