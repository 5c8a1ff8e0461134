// Command simulator serves the Twilio/SendGrid simulator for `make run`.
//
// Environment:
//
//	SIMULATOR_ADDR            listen address (default 127.0.0.1:8090)
//	SIMULATOR_ACCOUNT_SID     Twilio account SID clients use (default sim.DefaultAccountSID)
//	SIMULATOR_AUTH_TOKEN      Twilio auth token clients use and webhooks are signed with (default sim.DefaultAuthToken)
//	SIMULATOR_SENDGRID_KEY    SendGrid API key to accept (default: any)
//	SIMULATOR_INBOUND_URL     Twilio inbound webhook URL member replies are posted to
//	SIMULATOR_CALLBACK_DELAY  delay before automatic status callbacks, e.g. 200ms (default 0)
//	SIMULATOR_AUTO_CALLBACKS  fire sent/delivered callbacks automatically (default true)
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/simulator/sim"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "simulator:", err)
		os.Exit(1)
	}
}

// loadConfig reads the simulator's settings from the environment through
// getenv, returning the config and the listen address.
func loadConfig(getenv func(string) string) (sim.Config, string, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	cfg := sim.Config{
		AccountSID:    env("SIMULATOR_ACCOUNT_SID", sim.DefaultAccountSID),
		AuthToken:     env("SIMULATOR_AUTH_TOKEN", sim.DefaultAuthToken),
		SendGridKey:   getenv("SIMULATOR_SENDGRID_KEY"),
		InboundURL:    getenv("SIMULATOR_INBOUND_URL"),
		AutoCallbacks: true,
	}
	if v := getenv("SIMULATOR_CALLBACK_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return sim.Config{}, "", fmt.Errorf("parse SIMULATOR_CALLBACK_DELAY %q: want a duration like 200ms", v)
		}
		cfg.CallbackDelay = d
	}
	if v := getenv("SIMULATOR_AUTO_CALLBACKS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return sim.Config{}, "", fmt.Errorf("parse SIMULATOR_AUTO_CALLBACKS: %w", err)
		}
		cfg.AutoCallbacks = b
	}
	return cfg, env("SIMULATOR_ADDR", "127.0.0.1:8090"), nil
}

func run() error {
	cfg, addr, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}

	log, err := zap.NewProduction()
	if err != nil {
		return fmt.Errorf("build logger: %w", err)
	}
	defer func() { _ = log.Sync() }()

	s := sim.New(cfg, log)
	defer s.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("simulator listening", zap.String("addr", ln.Addr().String()),
		zap.String("inbound_url", cfg.InboundURL), zap.Bool("auto_callbacks", cfg.AutoCallbacks))

	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	log.Info("simulator shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
