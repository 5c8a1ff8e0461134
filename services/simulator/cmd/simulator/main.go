// Command simulator serves the Twilio/SendGrid simulator for `make run`.
//
// Environment:
//
//	SIMULATOR_ADDR                listen address (default 127.0.0.1:8090)
//	SIMULATOR_ACCOUNT_SID         Twilio account SID clients use (default sim.DefaultAccountSID)
//	SIMULATOR_AUTH_TOKEN          Twilio auth token clients use and webhooks are signed with (default sim.DefaultAuthToken)
//	SIMULATOR_SENDGRID_KEY        SendGrid API key to accept (default: any)
//	SIMULATOR_INBOUND_URL         Twilio inbound webhook URL member replies are posted to
//	SIMULATOR_CALLBACK_DELAY      delay before automatic status callbacks, e.g. 200ms (default 0)
//	SIMULATOR_AUTO_CALLBACKS      fire sent/delivered callbacks automatically (default true)
//	SIMULATOR_CALLBACK_ORDER      order of each message's automatic callbacks: in_order (default), reversed, shuffled
//	SIMULATOR_CALLBACK_REPEAT     post each automatic callback this many times (default 1)
//	SIMULATOR_CALLBACK_WORKERS    messages whose callbacks are posted at once (default 8)
//	SIMULATOR_LATENCY             delay before answering each Messages.json and mail/send request, e.g. 50ms (default 0)
//	SIMULATOR_FAULT_HOLD          longest a timeout_after_accept fault holds a request (default 30s)
//	SIMULATOR_EVENT_WEBHOOK_URL   SendGrid event webhook URL signed event batches are posted to
//	SIMULATOR_INBOUND_PARSE_URL   delivery's Inbound Parse URL (with its secret) that /sim/sendgrid/reply posts members' emails to
//	SIMULATOR_AUTO_EMAIL_EVENTS   post processed/delivered events for accepted emails (default true; needs the URL)
//	SIMULATOR_EMAIL_EVENT_REPEAT  post each automatic event batch this many times (default 1)
//	SIMULATOR_SENDGRID_EVENT_KEY  base64 DER (PKCS#8 or SEC 1) P-256 private key that signs events, so the public
//	                              key survives restarts (default: a new key each start; it is logged at start and
//	                              served at GET /sim/sendgrid/public-key)
//
// Fault rules and the runtime settings are changed over HTTP: PUT/DELETE
// /sim/faults and /sim/sendgrid/faults, PATCH /sim/settings.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/musterhq/muster/shared/cli"
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
		AccountSID:  env("SIMULATOR_ACCOUNT_SID", sim.DefaultAccountSID),
		AuthToken:   env("SIMULATOR_AUTH_TOKEN", sim.DefaultAuthToken),
		SendGridKey: getenv("SIMULATOR_SENDGRID_KEY"),
		InboundURL:  getenv("SIMULATOR_INBOUND_URL"),
	}
	var err error
	if cfg.CallbackDelay, err = parseDuration(getenv, "SIMULATOR_CALLBACK_DELAY"); err != nil {
		return sim.Config{}, "", err
	}
	if cfg.AutoCallbacks, err = parseBool(getenv, "SIMULATOR_AUTO_CALLBACKS", true); err != nil {
		return sim.Config{}, "", err
	}
	if v := getenv("SIMULATOR_CALLBACK_ORDER"); v != "" {
		o := sim.CallbackOrder(v)
		if o != sim.CallbackInOrder && o != sim.CallbackReversed && o != sim.CallbackShuffled {
			return sim.Config{}, "", fmt.Errorf("parse SIMULATOR_CALLBACK_ORDER %q: want in_order, reversed or shuffled", v)
		}
		cfg.CallbackOrder = o
	}
	if cfg.CallbackWorkers, err = parsePositive(getenv, "SIMULATOR_CALLBACK_WORKERS"); err != nil {
		return sim.Config{}, "", err
	}
	if cfg.CallbackRepeat, err = parsePositive(getenv, "SIMULATOR_CALLBACK_REPEAT"); err != nil {
		return sim.Config{}, "", err
	}
	if cfg.Latency, err = parseDuration(getenv, "SIMULATOR_LATENCY"); err != nil {
		return sim.Config{}, "", err
	}
	if cfg.FaultHold, err = parseDuration(getenv, "SIMULATOR_FAULT_HOLD"); err != nil {
		return sim.Config{}, "", err
	}
	cfg.EventWebhookURL = getenv("SIMULATOR_EVENT_WEBHOOK_URL")
	// Delivery's Inbound Parse URL, its secret included, for /sim/sendgrid/reply.
	cfg.InboundParseURL = getenv("SIMULATOR_INBOUND_PARSE_URL")
	if cfg.AutoEmailEvents, err = parseBool(getenv, "SIMULATOR_AUTO_EMAIL_EVENTS", true); err != nil {
		return sim.Config{}, "", err
	}
	if cfg.EmailEventRepeat, err = parsePositive(getenv, "SIMULATOR_EMAIL_EVENT_REPEAT"); err != nil {
		return sim.Config{}, "", err
	}
	if v := getenv("SIMULATOR_SENDGRID_EVENT_KEY"); v != "" {
		if cfg.SendGridEventKey, err = parseEventKey(v); err != nil {
			return sim.Config{}, "", fmt.Errorf("parse SIMULATOR_SENDGRID_EVENT_KEY: %w", err)
		}
	}
	return cfg, env("SIMULATOR_ADDR", "127.0.0.1:8090"), nil
}

// parseDuration reads a non-negative duration; unset is 0.
func parseDuration(getenv func(string) string, key string) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("parse %s %q: want a duration like 200ms", key, v)
	}
	return d, nil
}

// parseBool reads a boolean; unset is def.
func parseBool(getenv func(string) string, key string, def bool) (bool, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("parse %s: %w", key, err)
	}
	return b, nil
}

// parsePositive reads a count of at least 1; unset is 0 (the default).
func parsePositive(getenv func(string) string, key string) (int, error) {
	v := getenv(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("parse %s %q: want a whole number of at least 1", key, v)
	}
	return n, nil
}

// parseEventKey reads a base64 DER P-256 private key, PKCS#8 or SEC 1.
func parseEventKey(v string) (*ecdsa.PrivateKey, error) {
	der, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("decode base64: %w", err)
	}
	var key *ecdsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PKCS#8 key is a %T, want an ECDSA key", k)
		}
		key = ek
	} else if key, err = x509.ParseECPrivateKey(der); err != nil {
		return nil, errors.New("not a PKCS#8 or SEC 1 EC private key")
	}
	if key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key is on %s, want P-256", key.Curve.Params().Name)
	}
	return key, nil
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		return cli.Version(os.Stdout, "simulator")
	}
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
	srv := sim.NewHTTPServer(s.Handler())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("simulator listening", zap.String("addr", ln.Addr().String()),
		zap.String("inbound_url", cfg.InboundURL), zap.Bool("auto_callbacks", cfg.AutoCallbacks),
		zap.String("event_webhook_url", cfg.EventWebhookURL),
		zap.String("sendgrid_public_key", s.SendGridPublicKey()))

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
