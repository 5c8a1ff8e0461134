// Package app assembles the delivery service: the send worker on the SEND
// stream, Twilio's webhooks, and the message log API.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/api"
	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/publish"
	"github.com/musterhq/muster/services/delivery/receive"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/delivery/worker"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/web"
)

// Config is the delivery service's configuration, read from DELIVERY_*.
type Config struct {
	service.Config
	// PublicURL is the base URL providers reach this service at: webhook
	// URLs are built from it and Twilio signatures are checked against it.
	// Empty means the address the service listens on (fine on one host).
	PublicURL string `env:"PUBLIC_URL"`
	// TwilioAPIURL is empty for Twilio itself, or the simulator's URL.
	TwilioAPIURL        string        `env:"TWILIO_API_URL"`
	TwilioAccountSID    string        `env:"TWILIO_ACCOUNT_SID"`
	TwilioAuthToken     string        `env:"TWILIO_AUTH_TOKEN"`
	TwilioFrom          string        `env:"TWILIO_FROM"`
	MessagingServiceSID string        `env:"TWILIO_MESSAGING_SERVICE_SID"`
	TwilioTimeout       time.Duration `env:"TWILIO_TIMEOUT" envDefault:"10s"`
	Workers             int           `env:"WORKERS" envDefault:"32"`
	OrgName             string        `env:"ORG_NAME" envDefault:"Muster"`
	HelpText            string        `env:"HELP_TEXT"`
	OptOutText          string        `env:"OPT_OUT_TEXT"`
	OptInText           string        `env:"OPT_IN_TEXT"`
}

// DefaultConfig is the configuration with every default applied and no
// environment read.
func DefaultConfig() Config {
	var cfg Config
	_ = service.Defaults(&cfg) // tags are fixed at compile time; cannot fail at run time
	cfg.HTTPAddr = "127.0.0.1:8083"
	cfg.DatabaseURL = "postgres://postgres@127.0.0.1:5432/muster_delivery?sslmode=disable"
	return cfg
}

// LoadConfig reads DELIVERY_* over the defaults.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := service.Load("DELIVERY_", &cfg); err != nil {
		return Config{}, err
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	var errs []error
	if c.TwilioAccountSID == "" || c.TwilioAuthToken == "" {
		errs = append(errs, errors.New("DELIVERY_TWILIO_ACCOUNT_SID and DELIVERY_TWILIO_AUTH_TOKEN are required"))
	}
	if c.TwilioFrom == "" && c.MessagingServiceSID == "" {
		errs = append(errs, errors.New("set DELIVERY_TWILIO_FROM or DELIVERY_TWILIO_MESSAGING_SERVICE_SID"))
	}
	return errors.Join(errs...)
}

// replies are the keyword answers, with defaults naming the organization.
func (c Config) replies() receive.Replies {
	r := receive.Replies{OptOut: c.OptOutText, OptIn: c.OptInText, Help: c.HelpText}
	if r.OptOut == "" {
		r.OptOut = fmt.Sprintf("%s: You are unsubscribed and will get no more texts. Reply START to resubscribe.", c.OrgName)
	}
	if r.OptIn == "" {
		r.OptIn = fmt.Sprintf("%s: You are resubscribed to texts. Reply HELP for help, STOP to opt out.", c.OrgName)
	}
	if r.Help == "" {
		r.Help = fmt.Sprintf("%s: member alerts, a few msgs/month. Msg & data rates may apply. Reply STOP to opt out.", c.OrgName)
	}
	return r
}

// App is a running delivery service.
type App struct {
	deps   *service.Deps
	server *web.Server
}

// New connects everything and starts consuming; Run serves HTTP.
func New(ctx context.Context, cfg Config, log *zap.Logger) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuring delivery: %w", err)
	}
	sms, err := twilio.NewClient(twilio.Config{
		AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, APIURL: cfg.TwilioAPIURL, Timeout: cfg.TwilioTimeout,
	})
	if err != nil {
		return nil, err
	}
	deps, err := service.Open(ctx, "delivery", cfg.Config, migrations.FS, log)
	if err != nil {
		return nil, fmt.Errorf("starting delivery: %w", err)
	}
	a := &App{deps: deps}
	if err := a.start(ctx, cfg, sms); err != nil {
		deps.Close(ctx)
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, cfg Config, sms *twilio.Client) error {
	log := a.deps.Log
	r := chi.NewRouter()
	var err error
	if a.server, err = a.deps.NewServer(r, a.deps.Checks()); err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = a.server.URL()
	}
	st := store.New(a.deps.Pool)
	pub := publish.New(a.deps.JS, log.Named("publish"))
	twilio.NewWebhooks(cfg.TwilioAuthToken, publicURL, receive.New(st, pub, cfg.replies(), log.Named("receive")), log.Named("twilio")).Routes(r)
	api.New(st, log.Named("api")).Routes(r)
	w := worker.New(worker.Config{From: cfg.TwilioFrom, MessagingServiceSID: cfg.MessagingServiceSID, PublicURL: publicURL},
		st, sms, pub, log.Named("worker"))
	return a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamSend, Durable: "delivery-send", Workers: cfg.Workers,
		// Longer than the provider timeout, so a slow call is never
		// redelivered to a second worker while it is still in flight.
		AckWait: cfg.TwilioTimeout + 20*time.Second,
	}, w.Handle)
}

// URL is the base URL the service listens on.
func (a *App) URL() string { return a.server.URL() }

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error { return a.deps.Serve(ctx, a.server) }
