// Package cli is the shape every service's main takes: parse the
// subcommand, build the logger, run until a signal, and turn the outcome
// into an exit code in main alone.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/signal"
	"syscall"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/service"
)

// Runner starts a service and serves until ctx ends.
type Runner func(ctx context.Context, log *zap.Logger) error

// Main runs the subcommand in args: "serve" (the default) or "migrate".
// It returns the error for main to print and exit on.
func Main(args []string, name string, cfg service.Config, migrations fs.FS, serve Runner) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	log, err := logging.New(name, cfg.LogDev, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		log.Info("starting", zap.String("database", postgres.Redact(cfg.DatabaseURL)), zap.String("nats", cfg.NATSURL))
		if err := serve(ctx, log); err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		log.Info("stopped")
		return nil
	case "migrate":
		if err := service.Migrate(ctx, cfg, migrations); err != nil {
			return err
		}
		log.Info("migrations applied")
		return nil
	default:
		return fmt.Errorf("unknown command %q: want serve or migrate", cmd)
	}
}
