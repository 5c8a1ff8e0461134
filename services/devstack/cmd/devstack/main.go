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
	"io/fs"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/cli"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/tracing"
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
	// OTLPEndpoint sends every part's traces to an OpenTelemetry
	// collector (OTLP/HTTP); empty, tracing is off. TraceSampleRatio is
	// the share of new traces kept.
	OTLPEndpoint     string  `env:"OTLP_ENDPOINT"`
	TraceSampleRatio float64 `env:"TRACE_SAMPLE_RATIO" envDefault:"1"`
}

// devSecrets reads the development secrets kept in path, making the file
// (readable by its owner only) with fresh random values on first run, so
// members' links keep working across restarts of make run.
func devSecrets(path string) (map[string]string, error) {
	names := []string{"CAMPAIGNS_LINK_SECRET", "DELIVERY_UNSUBSCRIBE_SECRET", "DELIVERY_SENDGRID_INBOUND_SECRET"}
	out := map[string]string{}
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				out[k] = v
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var b strings.Builder
	changed := false
	for _, n := range names {
		if out[n] == "" {
			out[n], changed = secret.Generate(), true
		}
		fmt.Fprintf(&b, "%s=%s\n", n, out[n])
	}
	if changed {
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return out, nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		return cli.Version(os.Stdout, "devstack")
	}
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("making %s: %w", cfg.DataDir, err)
	}
	secrets, err := devSecrets(filepath.Join(cfg.DataDir, "secrets.env"))
	if err != nil {
		return err
	}
	operator, err := newOperatorKey(filepath.Join(cfg.DataDir, operatorKeyFile))
	if err != nil {
		return err
	}
	opts := stack.Options{
		Callers: operator,
		NATSURL: cfg.NATSURL, NATSCAFile: cfg.NATSCAFile, NATSPort: cfg.NATSPort, NATSDir: filepath.Join(cfg.DataDir, "nats"),
		ContactsAddr: cfg.ContactsAddr, CampaignsAddr: cfg.CampaignsAddr, DeliveryAddr: cfg.DeliveryAddr,
		SimulatorAddr: cfg.SimulatorAddr, AutoCallbacks: true, Log: log,
		ConsoleAddr: cfg.ConsoleAddr, ConsoleAdminEmail: cfg.ConsoleAdminEmail, ConsoleAdminPassword: cfg.ConsoleAdminPassword,
		LinkSecret: secrets["CAMPAIGNS_LINK_SECRET"], UnsubscribeSecret: secrets["DELIVERY_UNSUBSCRIBE_SECRET"],
		InboundSecret: secrets["DELIVERY_SENDGRID_INBOUND_SECRET"],
		AdminToken:    true,
		// A fresh console asks its admin to set the union up, unless the
		// environment already names the union (DELIVERY_ORG_NAME).
		FirstRun: os.Getenv("DELIVERY_ORG_NAME") == "",
		// Each service reads its own variables (DELIVERY_CAP_PER_DAY...)
		// over make run's defaults, as it would run alone.
		Environment: service.Environ(),
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
	tp, err := tracing.New(ctx, "muster", tracing.Config{Endpoint: cfg.OTLPEndpoint, SampleRatio: cfg.TraceSampleRatio})
	if err != nil {
		return err
	}
	defer func() { _ = tp.Shutdown(context.Background()) }() // after the stack stops
	opts.TracerProvider = tp.TracerProvider
	st, err := stack.Start(ctx, opts)
	if err != nil {
		return err
	}
	natsNote := "external; keys from MUSTER_NATS_SEEDS_FILE"
	if cfg.NATSURL == "" {
		// The admin's key, for the nats CLI; made afresh at every start.
		adminKey := filepath.Join(cfg.DataDir, "nats-admin.nk")
		if err := os.WriteFile(adminKey, []byte(st.NATSSeeds[natsauth.Admin]+"\n"), 0o600); err != nil {
			_ = st.Stop()
			return fmt.Errorf("writing the nats admin key: %w", err)
		}
		natsNote = fmt.Sprintf("loopback, no TLS, a user per service: nats --server %s --nkey %s stream ls", st.NATSURL, adminKey)
	}
	tokenFile := filepath.Join(cfg.DataDir, "admin.token")
	if err := os.WriteFile(tokenFile, []byte(st.AdminToken+"\n"), 0o600); err != nil {
		_ = st.Stop()
		return fmt.Errorf("writing %s: %w", tokenFile, err)
	}
	fmt.Printf("\nMuster is running, in development mode (its secrets are in %s).\n", filepath.Join(cfg.DataDir, "secrets.env"))
	fmt.Printf("  console       %s   (sign in as %s / %s on a fresh database)\n", st.ConsoleURL, cfg.ConsoleAdminEmail, cfg.ConsoleAdminPassword)
	fmt.Printf("  public API    %s/api/   with the admin token in %s:\n", st.ConsoleURL, tokenFile)
	fmt.Printf("                curl -H \"Authorization: Bearer $(cat %s)\" %s/api/campaigns\n", tokenFile, st.ConsoleURL)
	fmt.Printf("  webhooks      %s%s  %s%s  %s%s\n", st.DeliveryURL, twilio.InboundPath, st.DeliveryURL, twilio.StatusPath, st.DeliveryURL, sendgrid.EventsPath)
	fmt.Printf("  member pages  %s%s?t=…  %s%s…  %s%s…\n", st.DeliveryURL, unsubscribe.Path, st.CampaignsURL, message.RSVPPath, st.CampaignsURL, message.SignPath)
	fmt.Printf("  simulator     %s   (GET /sim/outbox shows texts sent, GET /sim/emails emails, invitations included; POST /sim/reply answers as a member)\n", st.SimulatorURL)
	fmt.Printf("  internal      contacts %s, campaigns %s, delivery %s, nats %s\n", st.ContactsURL, st.CampaignsURL, st.DeliveryURL, st.NATSURL)
	fmt.Printf("                their APIs need a service token; the operator's (%s) makes one:\n", filepath.Join(cfg.DataDir, operatorKeyFile))
	fmt.Printf("                curl -H \"Authorization: Bearer $(bin/devstack token contacts)\" %s/contacts\n", st.ContactsURL)
	fmt.Printf("  nats          %s\n", natsNote)
	fmt.Printf("Press Ctrl-C to stop.\n\n")
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
