// Package app assembles the campaigns service: the API, the fan-out
// runner and the results consumer.
package app

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/api"
	"github.com/musterhq/muster/services/campaigns/fanout"
	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/results"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/web"
)

// Config is the campaigns service's configuration, read from CAMPAIGNS_*.
type Config struct {
	service.Config
	FanoutPageSize int           `env:"FANOUT_PAGE_SIZE" envDefault:"500"`
	FanoutLease    time.Duration `env:"FANOUT_LEASE" envDefault:"30s"`
	FanoutPoll     time.Duration `env:"FANOUT_POLL" envDefault:"1s"`
	// ReplicaName names this replica in fan-out leases; the host name by
	// default.
	ReplicaName string `env:"REPLICA_NAME"`
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

// LoadConfig reads CAMPAIGNS_* over the defaults.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := service.Load("CAMPAIGNS_", &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// App is a running campaigns service.
type App struct {
	deps   *service.Deps
	server *web.Server
}

// New connects everything and starts consuming; Run serves HTTP.
func New(ctx context.Context, cfg Config, log *zap.Logger) (*App, error) {
	deps, err := service.Open(ctx, "campaigns", cfg.Config, migrations.FS, log)
	if err != nil {
		return nil, fmt.Errorf("starting campaigns: %w", err)
	}
	a := &App{deps: deps}
	if err := a.start(ctx, cfg); err != nil {
		deps.Close(ctx)
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, cfg Config) error {
	log := a.deps.Log
	st := store.New(a.deps.Pool)
	owner := cfg.ReplicaName
	if owner == "" {
		host, _ := os.Hostname()
		owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), events.NewID()[:6])
	}
	fan := fanout.New(fanout.Config{PageSize: cfg.FanoutPageSize, Lease: cfg.FanoutLease, Poll: cfg.FanoutPoll},
		st, a.deps.NC, a.deps.JS, owner, log.Named("fanout"))
	a.deps.Go(fan.Run)
	err := a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamMessages, Durable: "campaigns-results", Workers: 8,
	}, results.Handler(st))
	if err != nil {
		return err
	}
	a.server, err = a.deps.NewServer(api.New(st, fan, log.Named("api")).Routes(), a.deps.Checks())
	return err
}

// URL is the base URL the API listens on.
func (a *App) URL() string { return a.server.URL() }

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error { return a.deps.Serve(ctx, a.server) }
