// Package cli is the shape every service's main takes: parse the
// subcommand, build the logger, run until a signal, and turn the outcome
// into an exit code in main alone.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/buildinfo"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/svcauth"
)

// Runner starts a service and serves until ctx ends.
type Runner func(ctx context.Context, log *zap.Logger) error

// Main runs the subcommand in args: "serve" (the default), "migrate",
// "keygen" (a new service key, printed; see Keygen) or "version" (which
// build this is). It returns the error
// for main to print and exit on.
func Main(args []string, name string, cfg service.Config, migrations fs.FS, serve Runner) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	// No logger for these: the output is for a person or a script to read.
	switch cmd {
	case "keygen":
		return Keygen(os.Stdout, name)
	case "version":
		return Version(os.Stdout, name)
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
		return fmt.Errorf("unknown command %q: want serve, migrate, keygen or version", cmd)
	}
}

// GCPercent sets the garbage collector's target, as GOGC does, to
// percent, unless GOGC is set in the environment, which then wins. It
// returns the target in force. A service whose live heap is small and
// whose allocation is fast collects very often at Go's default of 100,
// and each collection scans every goroutine's stack; a service measured
// to be such calls this from main.
func GCPercent(percent int) string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	debug.SetGCPercent(percent)
	return strconv.Itoa(percent)
}

// Version prints the binary's name and build: "delivery v1.4.0 (commit
// 0123456789ab, go1.26.8)".
func Version(w io.Writer, name string) error {
	if _, err := fmt.Fprintln(w, name, buildinfo.Read()); err != nil {
		return fmt.Errorf("printing the version: %w", err)
	}
	return nil
}

// Keygen prints a new Ed25519 service key for the service called name:
// the secret line for that service's environment, and the entry each
// service it calls adds to its trusted callers. It runs in the images
// too, which have no shell or openssl.
func Keygen(w io.Writer, name string) error {
	seed, public, err := svcauth.NewKey()
	if err != nil {
		return err
	}
	prefix := strings.ToUpper(name) + "_"
	_, err = fmt.Fprintf(w, "# secret: only %s's environment holds it\n%sSERVICE_KEY=%s\n"+
		"# public: add to <SERVICE>_TRUSTED_CALLERS of each service %s calls\n%s=%s\n", name, prefix, seed, name, name, public)
	if err != nil {
		return fmt.Errorf("printing the key: %w", err)
	}
	return nil
}
