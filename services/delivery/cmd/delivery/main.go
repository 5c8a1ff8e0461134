// Command delivery runs the delivery service: the send pipeline, provider
// webhooks and the message log. `delivery migrate` applies migrations and exits.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/shared/cli"
	"github.com/musterhq/muster/shared/tracing"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "delivery:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	gc := cli.GCPercent(app.GCPercent)
	return cli.Main(os.Args[1:], "delivery", cfg.Config, migrations.FS, func(ctx context.Context, log *zap.Logger) error {
		log.Info("garbage collector", zap.String("gogc", gc))
		tp, err := tracing.New(ctx, "delivery", cfg.Tracing())
		if err != nil {
			return err
		}
		a, err := app.New(ctx, cfg, log, app.Options{TracerProvider: tp.TracerProvider})
		if err != nil {
			return errors.Join(err, tp.Shutdown(context.WithoutCancel(ctx)))
		}
		return errors.Join(a.Run(ctx), a.Close(), tp.Shutdown(context.WithoutCancel(ctx)))
	})
}
