// Package service owns what every Muster service starts and stops the same
// way: configuration from the environment, the PostgreSQL pool and its
// migrations, the NATS connection and streams, consumers, and the HTTP
// server, started in that order and stopped in reverse.
package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/buildinfo"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/tracing"
	"github.com/musterhq/muster/shared/web"
)

// Config is what every service reads from its environment, under its own
// prefix (CONTACTS_, CAMPAIGNS_, DELIVERY_). A service embeds it in its
// own config struct.
type Config struct {
	HTTPAddr       string `env:"HTTP_ADDR"`
	DatabaseURL    string `env:"DATABASE_URL"`
	DBMaxConns     int32  `env:"DB_MAX_CONNS" envDefault:"16"`
	NATSURL        string `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222"`
	StreamReplicas int    `env:"STREAM_REPLICAS" envDefault:"1"`
	LogLevel       string `env:"LOG_LEVEL" envDefault:"info"`
	LogDev         bool   `env:"LOG_DEV" envDefault:"false"`
	// ShutdownTimeout bounds a graceful stop; the watchdog ends it after.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"15s"`
	// DevMode is the development mode `make run` uses, on one machine:
	// secrets may be generated at start or be known development values,
	// service credentials that are missing are made up with a warning,
	// and the first admin keeps the password it was given. Off, every
	// secret is required and checked. Never set it in production.
	DevMode bool `env:"DEV_MODE" envDefault:"false"`

	// NATSSeed is the nkey seed (SU...) of the service's own NATS user
	// (shared/natsauth), required by every service that uses NATS; there
	// is no default, and make run generates one per start. A secret.
	NATSSeed string `env:"NATS_SEED"`
	// NATSCAFile is the CA certificate the NATS servers' certificates are
	// checked against, for servers that require TLS (tls:// URLs).
	NATSCAFile string `env:"NATS_CA_FILE"`

	// ServiceKey signs this service's calls to other services' APIs: the
	// base64 of an Ed25519 seed (`<binary> keygen` makes one). Required in
	// a service that calls others (the console). A secret.
	ServiceKey string `env:"SERVICE_KEY"`
	// TrustedCallers are the services allowed to call this one's API,
	// each with its public key: name=key,name=key, and name=old|new while
	// a key is rotated. Required in a service with an internal API
	// (contacts, campaigns, delivery).
	TrustedCallers string `env:"TRUSTED_CALLERS"`
	// MetricsToken, when set, also lets a scraper that sends it as a
	// bearer token read /metrics, and nothing else: Prometheus cannot
	// sign service tokens. At least 32 characters. A secret.
	MetricsToken string `env:"METRICS_TOKEN"`

	// OTLPEndpoint is the OpenTelemetry collector's OTLP/HTTP URL
	// (http://collector:4318) this service sends its traces to; empty,
	// the default, turns tracing off.
	OTLPEndpoint string `env:"OTLP_ENDPOINT"`
	// TraceSampleRatio is the share of new traces kept (0 to 1); a trace
	// begun by a caller follows the caller's decision.
	TraceSampleRatio float64 `env:"TRACE_SAMPLE_RATIO" envDefault:"1"`
}

// Tracing is the service's tracing configuration, for tracing.New.
func (c Config) Tracing() tracing.Config {
	return tracing.Config{Endpoint: c.OTLPEndpoint, SampleRatio: c.TraceSampleRatio}
}

// String shows the configuration with its secrets masked, for the log.
func (c Config) String() string {
	type plain Config // without this method, so printing does not recurse
	m := plain(c)
	m.DatabaseURL = postgres.Redact(c.DatabaseURL)
	m.NATSSeed, m.ServiceKey, m.MetricsToken = mask(c.NATSSeed), mask(c.ServiceKey), mask(c.MetricsToken)
	return fmt.Sprintf("%+v", m)
}

// Describe prints a service's configuration: the shared part as its own
// String masks it, then every field of own (a struct, or a pointer to one,
// whose secrets the caller has masked) but the embedded Config. Printing
// own with %+v would not do: the embedded Config's String is promoted to
// it, and fmt would print the shared part alone.
func Describe(shared Config, own any) string {
	v := reflect.Indirect(reflect.ValueOf(own))
	if v.Kind() != reflect.Struct {
		return shared.String() + fmt.Sprintf(" %+v", own)
	}
	var b strings.Builder
	b.WriteString(shared.String())
	b.WriteString(" {")
	first := true
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || (f.Anonymous && f.Type == reflect.TypeFor[Config]()) {
			continue
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		fmt.Fprintf(&b, "%s:%+v", f.Name, v.Field(i).Interface())
	}
	b.WriteByte('}')
	return b.String()
}

// mask hides a secret but says whether it is set.
func mask(s string) string {
	if s == "" {
		return ""
	}
	return "****"
}

// Load fills cfg (a pointer to a struct) from the environment variables
// that start with prefix, applying envDefault tags. It is the only place a
// service reads its environment.
func Load(prefix string, cfg any) error {
	if err := env.ParseWithOptions(cfg, env.Options{Prefix: prefix}); err != nil {
		return fmt.Errorf("reading %s* configuration: %w", prefix, err)
	}
	return nil
}

// Defaults fills cfg from its envDefault tags alone, reading no
// environment: the starting point for tests and the dev stack.
func Defaults(cfg any) error {
	if err := env.ParseWithOptions(cfg, env.Options{Environment: map[string]string{}}); err != nil {
		return fmt.Errorf("applying configuration defaults: %w", err)
	}
	return nil
}

// Migrate creates the service's database when missing and applies its
// migrations, then disconnects: the `migrate` subcommand.
func Migrate(ctx context.Context, cfg Config, migrations fs.FS) error {
	if err := postgres.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	return postgres.Migrate(ctx, pool, migrations)
}

// Deps are the connections a running service holds.
type Deps struct {
	Log      *zap.Logger
	Pool     *pgxpool.Pool
	NC       *nats.Conn
	JS       jetstream.JetStream
	Registry *prometheus.Registry
	// TracerProvider makes the service's spans; nil when tracing is off.
	TracerProvider trace.TracerProvider
	// Clock is the service's clock, which its consumers stamp what they
	// publish with (dead letters); nil is the wall clock.
	Clock func() time.Time

	name      string
	cfg       Config
	mu        sync.Mutex
	consumers []*stream.Running
	releases  []release
	// releaseErr is what closing the releases said.
	releaseErr error
	subs       []*nats.Subscription
	gauges     *stream.Gauges // each consumer's lag and dead letters, at each scrape
	bgCancel   context.CancelFunc
	bg         sync.WaitGroup
	bgCtx      context.Context
}

// Open makes the service's database if it is missing, applies migrations,
// connects to NATS as the service's own user and declares the streams that
// user owns. A service with no user in the natsauth table (the console)
// does not connect to NATS at all. tp, when not nil, traces statements,
// requests and consumed messages.
func Open(ctx context.Context, name string, cfg Config, migrations fs.FS, log *zap.Logger, tp trace.TracerProvider) (*Deps, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("no database url configured")
	}
	// Credentials are checked before anything is touched.
	user, usesNATS := natsauth.Lookup(name)
	var natsOpts []nats.Option
	if usesNATS {
		variable := strings.ToUpper(name) + "_NATS_SEED"
		if cfg.NATSSeed == "" {
			return nil, fmt.Errorf("no nats credentials configured: set %s", variable)
		}
		var err error
		if natsOpts, err = natsauth.ClientOptions(name, cfg.NATSSeed, cfg.NATSCAFile); err != nil {
			return nil, fmt.Errorf("%s or %s_NATS_CA_FILE: %w", variable, strings.ToUpper(name), err)
		}
	}
	if err := postgres.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	pool, err := postgres.OpenTraced(ctx, cfg.DatabaseURL, cfg.DBMaxConns, tp)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, pool, migrations); err != nil {
		pool.Close()
		return nil, err
	}
	var (
		nc *nats.Conn
		js jetstream.JetStream
	)
	if usesNATS {
		nc, js, err = stream.Connect(cfg.NATSURL, "muster-"+name, log.Named("nats"), natsOpts...)
		if err != nil {
			pool.Close()
			return nil, err
		}
		if err := stream.EnsureStreams(ctx, js, stream.Topology{Replicas: cfg.StreamReplicas}, user.Streams...); err != nil {
			nc.Close()
			pool.Close()
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.Read().Collector(name), NewCertExpiry(cfg.NATSCAFile))
	var gauges *stream.Gauges
	if js != nil {
		gauges = stream.NewGauges(js)
		reg.MustRegister(gauges)
	}
	bgCtx, bgCancel := context.WithCancel(context.WithoutCancel(ctx))
	return &Deps{Log: log, Pool: pool, NC: nc, JS: js, Registry: reg, TracerProvider: tp, name: name, cfg: cfg, gauges: gauges, bgCtx: bgCtx, bgCancel: bgCancel}, nil
}

// Go runs a background loop (a scheduler, a fan-out runner) until Close,
// which cancels its context and waits for it before closing connections.
func (d *Deps) Go(loop func(ctx context.Context)) {
	d.bg.Go(func() { loop(d.bgCtx) })
}

// Consume runs a durable consumer that Close will drain.
func (d *Deps) Consume(ctx context.Context, spec stream.Consumer, h stream.Handler) error {
	if spec.TracerProvider == nil {
		spec.TracerProvider = d.TracerProvider
	}
	if spec.Clock == nil {
		spec.Clock = d.Clock
	}
	r, err := stream.Run(ctx, d.JS, spec, h, d.Log.Named("consumer"))
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.consumers = append(d.consumers, r)
	d.mu.Unlock()
	if d.gauges != nil {
		d.gauges.Watch(spec.Stream, spec.Durable)
	}
	return nil
}

// Subscribed registers a core NATS subscription (request/reply) for Close
// to drain.
func (d *Deps) Subscribed(sub *nats.Subscription) {
	d.mu.Lock()
	d.subs = append(d.subs, sub)
	d.mu.Unlock()
}

// Checks are the readiness checks every service has; a service adds its
// own (Redis, say) to the map.
func (d *Deps) Checks() map[string]web.Check {
	checks := map[string]web.Check{
		"postgres": func(ctx context.Context) error { return d.Pool.Ping(ctx) },
	}
	if d.NC != nil {
		checks["nats"] = func(context.Context) error {
			if !d.NC.IsConnected() {
				return fmt.Errorf("nats is %s", d.NC.Status())
			}
			return nil
		}
	}
	return checks
}

// NewServer listens on the configured address with the standard endpoints
// and the service's routes; opts guard /metrics (web.MetricsGuard).
func (d *Deps) NewServer(routes http.Handler, checks map[string]web.Check, opts ...web.Option) (*web.Server, error) {
	if d.TracerProvider != nil {
		opts = append(opts, web.Tracing(d.TracerProvider, d.traceTrusted))
	}
	return web.NewServer(d.cfg.HTTPAddr, routes, d.Registry, checks, d.Log.Named("http"), opts...)
}

// traceTrusted says whose trace context a service continues: calls that
// carry a service token (the console's, an operator's). Anything else is
// the public edge. The console, the public edge itself, trusts none.
func (d *Deps) traceTrusted(r *http.Request) bool {
	return d.name != "console" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// Serve runs srv until ctx ends, then stops everything in reverse order of
// start: HTTP, consumers, subscriptions, background loops, NATS, the pool. A watchdog bounds
// the stop so a hung dependency cannot keep the process alive.
func (d *Deps) Serve(ctx context.Context, srv *web.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	d.Log.Info("serving", zap.String("addr", srv.Addr()))
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(stopCtx); err != nil {
		d.Log.Warn("http shutdown incomplete", zap.Error(err))
	}
	d.Close(stopCtx)
	return serveErr
}

// Shutdown is Close bounded by the configured shutdown timeout: what an
// app's Close calls. It is safe after Serve returned and to call twice.
func (d *Deps) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
	defer cancel()
	d.Close(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.releaseErr
}

// Release has Close also close what an app opened beside these
// connections (a Redis client), once, last.
func (d *Deps) Release(what string, close func() error) {
	d.mu.Lock()
	d.releases = append(d.releases, release{what, close})
	d.mu.Unlock()
}

type release struct {
	what  string
	close func() error
}

// Close drains consumers and NATS and closes the pool. It is safe to call
// on a service whose server never started, and again after Serve or a
// first Close.
func (d *Deps) Close(ctx context.Context) {
	d.mu.Lock()
	consumers, subs := d.consumers, d.subs
	d.consumers, d.subs = nil, nil
	d.mu.Unlock()
	// Consumers first: their handlers may rely on background loops (a
	// batcher), which stop once no handler is left to serve.
	for _, c := range consumers {
		c.Stop(ctx)
	}
	for _, s := range subs {
		_ = s.Drain()
	}
	d.bgCancel()
	d.bg.Wait()
	if d.NC != nil && !d.NC.IsClosed() {
		if err := d.NC.Drain(); err != nil {
			d.NC.Close()
		}
		for !d.NC.IsClosed() && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		d.NC.Close()
	}
	d.Pool.Close()
	d.mu.Lock()
	releases := d.releases
	d.releases = nil
	d.mu.Unlock()
	var errs []error
	for _, r := range releases {
		if err := r.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s: %w", r.what, err))
		}
	}
	d.mu.Lock()
	d.releaseErr = errors.Join(d.releaseErr, errors.Join(errs...))
	d.mu.Unlock()
}
