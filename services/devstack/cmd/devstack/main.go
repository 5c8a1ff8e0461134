// Command devstack runs the whole platform on one machine for trying it
// out: an embedded NATS server with JetStream, the provider simulator in
// place of Twilio and SendGrid, and every service, against the local
// PostgreSQL (databases created on first run). Ctrl-C stops everything.
//
// The services' own APIs answer only trusted callers: the console, and an
// "operator" whose key each start writes to <data dir>/operator.key.
// `devstack token <service>` prints a five-minute token for calling a
// service's API as that operator, from another terminal.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/svcauth"
)

// config is read from MUSTER_*.
type config struct {
	// NATSURL points at an external NATS server instead of the embedded one.
	NATSURL  string `env:"NATS_URL"`
	NATSPort int    `env:"NATS_PORT" envDefault:"4333"`
	DataDir  string `env:"DATA_DIR" envDefault:".run"`
	// DatabaseURL names the PostgreSQL server; each service gets its own
	// database on it (muster_contacts, muster_campaigns, muster_delivery,
	// muster_console).
	DatabaseURL   string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"`
	ContactsAddr  string `env:"CONTACTS_ADDR" envDefault:"127.0.0.1:8081"`
	CampaignsAddr string `env:"CAMPAIGNS_ADDR" envDefault:"127.0.0.1:8082"`
	DeliveryAddr  string `env:"DELIVERY_ADDR" envDefault:"127.0.0.1:8083"`
	SimulatorAddr string `env:"SIMULATOR_ADDR" envDefault:"127.0.0.1:8090"`
	ConsoleAddr   string `env:"CONSOLE_ADDR" envDefault:"127.0.0.1:8080"`
	// ConsoleAdminEmail and ConsoleAdminPassword make the console's first
	// admin on a fresh database. The password is a development default,
	// printed at start: never use it for real members' data.
	ConsoleAdminEmail    string `env:"CONSOLE_ADMIN_EMAIL" envDefault:"admin@muster.local"`
	ConsoleAdminPassword string `env:"CONSOLE_ADMIN_PASSWORD" envDefault:"muster-dev-password"`
	LogLevel             string `env:"LOG_LEVEL" envDefault:"info"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	if err := service.Load("MUSTER_", &cfg); err != nil {
		return err
	}
	if len(os.Args) > 1 && os.Args[1] == "token" {
		if len(os.Args) != 3 {
			return errors.New("usage: devstack token contacts|campaigns|delivery")
		}
		tok, err := operatorToken(filepath.Join(cfg.DataDir, operatorKeyFile), os.Args[2])
		if err != nil {
			return err
		}
		fmt.Println(tok)
		return nil
	}
	log, err := logging.New("muster", true, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	dbFor := func(name string) (string, error) {
		u, err := url.Parse(cfg.DatabaseURL)
		if err != nil {
			return "", fmt.Errorf("parsing MUSTER_DATABASE_URL: %w", err)
		}
		u.Path = "/muster_" + name
		return u.String(), nil
	}
	operator, err := newOperatorKey(filepath.Join(cfg.DataDir, operatorKeyFile))
	if err != nil {
		return err
	}
	opts := stack.Options{
		Callers: operator,
		NATSURL: cfg.NATSURL, NATSPort: cfg.NATSPort, NATSDir: filepath.Join(cfg.DataDir, "nats"),
		ContactsAddr: cfg.ContactsAddr, CampaignsAddr: cfg.CampaignsAddr, DeliveryAddr: cfg.DeliveryAddr,
		SimulatorAddr: cfg.SimulatorAddr, AutoCallbacks: true, Log: log,
		ConsoleAddr: cfg.ConsoleAddr, ConsoleAdminEmail: cfg.ConsoleAdminEmail, ConsoleAdminPassword: cfg.ConsoleAdminPassword,
	}
	for name, dst := range map[string]*string{"contacts": &opts.ContactsDB, "campaigns": &opts.CampaignsDB, "delivery": &opts.DeliveryDB, "console": &opts.ConsoleDB} {
		if *dst, err = dbFor(name); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Printf(`
Muster is running.
  console    %s   (sign in as %s / %s on a fresh database)
  contacts   %s
  campaigns  %s
  delivery   %s
  simulator  %s   (GET /sim/outbox shows texts sent; POST /sim/reply answers as a member)
  nats       %s
The services' APIs need a service token:
  curl -H "Authorization: Bearer $(bin/devstack token contacts)" %s/contacts
Press Ctrl-C to stop.

`, st.ConsoleURL, cfg.ConsoleAdminEmail, cfg.ConsoleAdminPassword, st.ContactsURL, st.CampaignsURL, st.DeliveryURL, st.SimulatorURL, st.NATSURL,
		st.ContactsURL)
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case <-st.Failed():
		log.Error("a service failed; stopping")
	}
	if err := st.Stop(); err != nil {
		return err
	}
	log.Info("stopped", zap.String("data_dir", cfg.DataDir))
	return nil
}

// operatorKeyFile holds, under the data directory, the key of this run's
// "operator": the one caller besides the console the services trust.
const operatorKeyFile = "operator.key"

// newOperatorKey makes this run's operator key, writes its seed where
// `devstack token` reads it (readable by this user only), and returns the
// trusted-callers entry for it. A new key each start: a token from an
// earlier run is worth nothing.
func newOperatorKey(path string) (string, error) {
	seed, public, err := svcauth.NewKey()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("making %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, []byte(seed+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the operator key: %w", err)
	}
	return "operator=" + public, nil
}

// operatorToken is a token for calling service as the running stack's
// operator.
func operatorToken(path, service string) (string, error) {
	seed, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the operator key (is make run running?): %w", err)
	}
	key, err := svcauth.ParsePrivateKey(string(seed))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	signer, err := svcauth.NewSigner("operator", key, time.Now)
	if err != nil {
		return "", err
	}
	if err := svcauth.CheckName(service); err != nil {
		return "", err
	}
	return signer.Token(service)
}
