// Command devstack runs the whole platform on one machine for trying it
// out: an embedded NATS server with JetStream, the provider simulator in
// place of Twilio and SendGrid, and every service, against the local
// PostgreSQL (databases created on first run). Ctrl-C stops everything.
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

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/service"
)

// config is read from MUSTER_*.
type config struct {
	// NATSURL points at an external NATS server instead of the embedded
	// one; it must run the natsauth table (deployments/nats/auth.conf)
	// with the keys in NATSSeedsFile, as natskeys writes it.
	NATSURL       string `env:"NATS_URL"`
	NATSSeedsFile string `env:"NATS_SEEDS_FILE"`
	NATSCAFile    string `env:"NATS_CA_FILE"`
	NATSPort      int    `env:"NATS_PORT" envDefault:"4333"`
	DataDir       string `env:"DATA_DIR" envDefault:".run"`
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
	opts := stack.Options{
		NATSURL: cfg.NATSURL, NATSCAFile: cfg.NATSCAFile, NATSPort: cfg.NATSPort, NATSDir: filepath.Join(cfg.DataDir, "nats"),
		ContactsAddr: cfg.ContactsAddr, CampaignsAddr: cfg.CampaignsAddr, DeliveryAddr: cfg.DeliveryAddr,
		SimulatorAddr: cfg.SimulatorAddr, AutoCallbacks: true, Log: log,
		ConsoleAddr: cfg.ConsoleAddr, ConsoleAdminEmail: cfg.ConsoleAdminEmail, ConsoleAdminPassword: cfg.ConsoleAdminPassword,
	}
	for name, dst := range map[string]*string{"contacts": &opts.ContactsDB, "campaigns": &opts.CampaignsDB, "delivery": &opts.DeliveryDB, "console": &opts.ConsoleDB} {
		if *dst, err = dbFor(name); err != nil {
			return err
		}
	}
	if cfg.NATSURL != "" {
		if cfg.NATSSeedsFile == "" {
			return errors.New("MUSTER_NATS_URL needs MUSTER_NATS_SEEDS_FILE: the users' nkey seeds, as natskeys writes them")
		}
		env, err := os.ReadFile(cfg.NATSSeedsFile)
		if err != nil {
			return fmt.Errorf("reading MUSTER_NATS_SEEDS_FILE: %w", err)
		}
		if opts.NATSSeeds, err = natsauth.ReadSeeds(string(env)); err != nil {
			return fmt.Errorf("MUSTER_NATS_SEEDS_FILE: %w", err)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	natsNote := "(external; keys from MUSTER_NATS_SEEDS_FILE)"
	if cfg.NATSURL == "" {
		// The admin's key, for the nats CLI; made afresh at every start.
		adminKey := filepath.Join(cfg.DataDir, "nats-admin.nk")
		if err := os.WriteFile(adminKey, []byte(st.NATSSeeds[natsauth.Admin]+"\n"), 0o600); err != nil {
			_ = st.Stop()
			return fmt.Errorf("writing the nats admin key: %w", err)
		}
		natsNote = fmt.Sprintf("(loopback, no TLS; a user per service, keys made at this start;\n"+
			"             nats --server %s --nkey %s stream ls)", st.NATSURL, adminKey)
	}
	fmt.Printf(`
Muster is running.
  console    %s   (sign in as %s / %s on a fresh database)
  contacts   %s
  campaigns  %s
  delivery   %s
  simulator  %s   (GET /sim/outbox shows texts sent; POST /sim/reply answers as a member)
  nats       %s   %s
Press Ctrl-C to stop.

`, st.ConsoleURL, cfg.ConsoleAdminEmail, cfg.ConsoleAdminPassword, st.ContactsURL, st.CampaignsURL, st.DeliveryURL, st.SimulatorURL, st.NATSURL, natsNote)
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
