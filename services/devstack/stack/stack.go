// Package stack runs the whole of Muster in one process for development,
// end-to-end tests and benchmarks: an embedded NATS server with JetStream
// (or an external one), the provider simulator, and the contacts,
// campaigns and delivery services and the organizers' console, each
// exactly as its own binary runs it.
package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	campaigns "github.com/musterhq/muster/services/campaigns/app"
	console "github.com/musterhq/muster/services/console/app"
	contacts "github.com/musterhq/muster/services/contacts/app"
	delivery "github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/natsserver"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/testkit"
)

// Options say where each part runs. Addresses ending in ":0" take a free
// port.
type Options struct {
	// NATSURL points at an external NATS server, configured with the
	// natsauth table, as whose users the services connect (NATSSeeds;
	// NATSCAFile when it requires TLS). Empty runs an embedded one on
	// NATSPort (-1 for any free port) storing under NATSDir, on loopback
	// without TLS, with keys made afresh at every start.
	NATSURL    string
	NATSSeeds  natsauth.Seeds
	NATSCAFile string
	NATSPort   int
	NATSDir    string

	ContactsDB, CampaignsDB, DeliveryDB string

	ContactsAddr, CampaignsAddr, DeliveryAddr, SimulatorAddr string

	// ConsoleDB is the console's database; empty leaves the console out.
	// ConsoleAddr is where it listens, and ConsoleAdminEmail and
	// ConsoleAdminPassword make its first admin.
	ConsoleDB, ConsoleAddr                  string
	ConsoleAdminEmail, ConsoleAdminPassword string
	// LinkSecret and UnsubscribeSecret sign members' links; empty ones
	// are made up per process (links then die with it). The dev stack
	// keeps its own under .run/ so links outlive a restart.
	LinkSecret, UnsubscribeSecret string
	// InboundSecret is the path secret of delivery's Inbound Parse URL,
	// which the simulator posts members' emails to; empty makes one up
	// (the simulator is told it either way).
	InboundSecret string
	// FirstRun leaves the console's first-run setup for an admin to do
	// (make run on a fresh database, and the test of setup itself);
	// otherwise the stack marks setup done, as for a console in use, and
	// the organization keeps the name its environment gives.
	FirstRun bool
	// AdminToken asks for an admin API token (Stack.AdminToken) once the
	// console runs.
	AdminToken bool
	// Console adjusts the console's configuration before it starts.
	Console func(*console.Config)
	// ConsoleOptions replaces parts of the console (a clock).
	ConsoleOptions console.Options

	// AutoCallbacks makes the simulator report sent then delivered for
	// every message, as Twilio would.
	AutoCallbacks bool
	CallbackDelay time.Duration
	// CallbackWorkers is how many messages' callbacks the simulator posts
	// at once (its default when 0).
	CallbackWorkers int

	// DeliveryWorkers overrides delivery's default concurrency when set.
	DeliveryWorkers int

	// RedisURL and RedisPrefix place delivery's rate limits and caps;
	// tests give each run a prefix of its own.
	RedisURL    string
	RedisPrefix string

	// Delivery adjusts delivery's configuration before it starts (rates,
	// caps, windows) and DeliveryOptions replaces its parts (a clock).
	Delivery        func(*delivery.Config)
	DeliveryOptions delivery.Options

	// Environment holds variables each service reads under its own
	// prefix (CONTACTS_, CAMPAIGNS_, DELIVERY_, CONSOLE_) over its
	// defaults and the stack's development values, as the service run
	// alone reads its environment: make run passes the process's, tests
	// pass what they set (nil reads nothing). The variables that wire the
	// parts together (addresses, databases, NATS, service keys, the
	// simulator's URLs and credentials) are the stack's own: set here they
	// are ignored, with a warning.
	Environment map[string]string

	// Callers are more callers (name=public-key, as TRUSTED_CALLERS
	// reads them) that contacts, campaigns and delivery trust beside the
	// console: a test that calls a service directly adds its own.
	Callers string

	// TracerProvider traces every service (and is each one's
	// Options.TracerProvider unless those options name their own); nil
	// traces nothing.
	TracerProvider trace.TracerProvider

	Log *zap.Logger
}

// Stack is a running platform.
type Stack struct {
	NATSURL string
	// NATSSeeds are the NATS users' seeds (natsauth.Admin's for a tool or
	// test that inspects streams); NATSOptions connects with them.
	NATSSeeds    natsauth.Seeds
	NATSCAFile   string
	Sim          *sim.Server
	SimulatorURL string
	ContactsURL  string
	CampaignsURL string
	DeliveryURL  string
	// ConsoleURL is empty when the console was left out.
	ConsoleURL string
	// AdminToken is an admin API token for the console, when asked for.
	AdminToken string

	natsSrv *server.Server
	simSrv  *http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error
	failed  chan struct{}
	once    sync.Once
}

// Start brings every part up, in dependency order, and returns once each
// one serves.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	log := o.Log
	if log == nil {
		log = zap.NewNop()
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Stack{cancel: cancel, failed: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = s.Stop()
		}
	}()

	// The console calls the services with a key made for this run; they
	// trust it, and whoever else the options name, and no one else.
	consoleKey, consolePublic, err := svcauth.NewKey()
	if err != nil {
		return nil, err
	}
	trusted := "console=" + consolePublic
	if o.Callers != "" {
		trusted += "," + o.Callers
	}

	s.NATSURL, s.NATSSeeds, s.NATSCAFile = o.NATSURL, o.NATSSeeds, o.NATSCAFile
	if s.NATSURL == "" {
		// Authentication is on here too, with keys no one else has.
		if s.NATSSeeds, err = natsauth.NewSeeds(); err != nil {
			return nil, err
		}
		keys, err := s.NATSSeeds.PublicKeys()
		if err != nil {
			return nil, err
		}
		s.natsSrv, err = natsserver.Run(natsserver.Config{Host: "127.0.0.1", Port: o.NATSPort, StoreDir: o.NATSDir, Keys: keys})
		if err != nil {
			return nil, err
		}
		s.NATSURL = fmt.Sprintf("nats://127.0.0.1:%d", natsserver.Port(s.natsSrv))
	}

	// The simulator posts replies to delivery and delivery sends to the
	// simulator, so delivery's address is fixed before either starts.
	deliveryAddr, err := reserve(o.DeliveryAddr)
	if err != nil {
		return nil, err
	}
	s.DeliveryURL = "http://" + deliveryAddr

	simLn, err := net.Listen("tcp", o.SimulatorAddr)
	if err != nil {
		return nil, fmt.Errorf("listening for the simulator: %w", err)
	}
	s.SimulatorURL = "http://" + simLn.Addr().String()
	if o.InboundSecret == "" {
		o.InboundSecret = secret.Generate()
	}
	s.Sim = sim.New(sim.Config{
		InboundURL:    s.DeliveryURL + twilio.InboundPath,
		AutoCallbacks: o.AutoCallbacks, CallbackDelay: o.CallbackDelay, CallbackWorkers: o.CallbackWorkers,
		SendGridKey: simSendGridKey, EventWebhookURL: s.DeliveryURL + sendgrid.EventsPath, AutoEmailEvents: o.AutoCallbacks,
		InboundParseURL: s.DeliveryURL + sendgrid.InboundPrefix + o.InboundSecret,
		// Delivery's clock, when a test moves it: the simulator stamps
		// messages as Twilio would, on the same time delivery reads.
		Clock: o.DeliveryOptions.Clock,
	}, log.Named("simulator"))
	s.simSrv = sim.NewHTTPServer(s.Sim.Handler())
	go func() { _ = s.simSrv.Serve(simLn) }()

	// Each service's config is its code's defaults, then the stack's
	// development values, then the environment, then the wiring the stack
	// owns, then a test's adjustments.
	env := environment{vars: o.Environment}

	cc := contacts.DefaultConfig()
	if err := env.overlay("CONTACTS_", &cc); err != nil {
		return nil, err
	}
	cc.HTTPAddr, cc.DatabaseURL, cc.NATSURL = o.ContactsAddr, o.ContactsDB, s.NATSURL
	cc.DevMode = true
	cc.NATSSeed, cc.NATSCAFile = s.NATSSeeds[natsauth.Contacts], s.NATSCAFile
	cc.TrustedCallers = trusted
	ca, err := contacts.New(ctx, cc, log.Named("contacts"), contacts.Options{TracerProvider: o.TracerProvider})
	if err != nil {
		return nil, err
	}
	s.ContactsURL = ca.URL()
	s.run(runCtx, "contacts", ca)

	pc := campaigns.DefaultConfig()
	pc.FanoutPoll = 200 * time.Millisecond
	pc.LinkSecret = o.LinkSecret
	if err := env.overlay("CAMPAIGNS_", &pc); err != nil {
		return nil, err
	}
	pc.HTTPAddr, pc.DatabaseURL, pc.NATSURL = o.CampaignsAddr, o.CampaignsDB, s.NATSURL
	pc.DevMode = true
	pc.NATSSeed, pc.NATSCAFile = s.NATSSeeds[natsauth.Campaigns], s.NATSCAFile
	pc.TrustedCallers = trusted
	pa, err := campaigns.New(ctx, pc, log.Named("campaigns"), campaigns.Options{TracerProvider: o.TracerProvider})
	if err != nil {
		return nil, err
	}
	s.CampaignsURL = pa.URL()
	s.run(runCtx, "campaigns", pa)

	dc := delivery.DefaultConfig()
	dc.TwilioFrom = "+15550001111"
	dc.UnsubscribeSecret = o.UnsubscribeSecret
	if err := env.overlay("DELIVERY_", &dc, deliveryWiring...); err != nil {
		return nil, err
	}
	dc.HTTPAddr, dc.DatabaseURL, dc.NATSURL = deliveryAddr, o.DeliveryDB, s.NATSURL
	dc.DevMode = true
	dc.NATSSeed, dc.NATSCAFile = s.NATSSeeds[natsauth.Delivery], s.NATSCAFile
	dc.TrustedCallers = trusted
	dc.TwilioAPIURL, dc.TwilioAccountSID, dc.TwilioAuthToken = s.SimulatorURL, sim.DefaultAccountSID, sim.DefaultAuthToken
	// Members' email replies: Reply-To on the dev domain, posted back by
	// the simulator (POST /sim/sendgrid/reply).
	dc.InboundEmailDomain, dc.SendGridInboundSecret = devReplyDomain, o.InboundSecret
	dc.SendGridAPIKey, dc.SendGridAPIURL, dc.SendGridWebhookKey = simSendGridKey, s.SimulatorURL, s.Sim.SendGridPublicKey()
	if o.DeliveryWorkers > 0 {
		dc.Workers = o.DeliveryWorkers
	}
	if o.RedisURL != "" {
		dc.RedisURL = o.RedisURL
	}
	if o.RedisPrefix != "" {
		dc.RedisPrefix = o.RedisPrefix
	}
	if o.Delivery != nil {
		o.Delivery(&dc)
	}
	if o.DeliveryOptions.TracerProvider == nil {
		o.DeliveryOptions.TracerProvider = o.TracerProvider
	}
	da, err := delivery.New(ctx, dc, log.Named("delivery"), o.DeliveryOptions)
	if err != nil {
		return nil, err
	}
	s.run(runCtx, "delivery", da)

	if o.ConsoleDB != "" {
		oc := console.DefaultConfig()
		if err := env.overlay("CONSOLE_", &oc, consoleWiring...); err != nil {
			return nil, err
		}
		// The console has no NATS user: it calls the services over HTTP.
		oc.HTTPAddr, oc.DatabaseURL = o.ConsoleAddr, o.ConsoleDB
		oc.DevMode = true
		oc.ContactsURL, oc.CampaignsURL, oc.DeliveryURL = s.ContactsURL, s.CampaignsURL, s.DeliveryURL
		oc.ServiceKey = consoleKey
		// The console's own API checks sessions; the callers the other
		// services trust beside it (make run's operator) may read its
		// /metrics, as `muster version` does.
		if oc.TrustedCallers == "" {
			oc.TrustedCallers = o.Callers
		}
		oc.AdminEmail, oc.AdminPassword = o.ConsoleAdminEmail, o.ConsoleAdminPassword
		if o.RedisURL != "" {
			oc.RedisURL = o.RedisURL
		}
		if o.RedisPrefix != "" {
			oc.RedisPrefix = o.RedisPrefix
		}
		if o.Console != nil {
			o.Console(&oc)
		}
		if o.ConsoleOptions.TracerProvider == nil {
			o.ConsoleOptions.TracerProvider = o.TracerProvider
		}
		oa, err := console.New(ctx, oc, log.Named("console"), o.ConsoleOptions)
		if err != nil {
			return nil, err
		}
		s.ConsoleURL = oa.URL()
		if !o.FirstRun {
			if err := oa.MarkSetupDone(ctx, "development stack"); err != nil {
				return nil, fmt.Errorf("marking the console's setup done: %w", err)
			}
		}
		s.run(runCtx, "console", oa)
		if o.AdminToken {
			if s.AdminToken, err = oa.DevAdminToken(ctx, "make run", 30*24*time.Hour); err != nil {
				return nil, fmt.Errorf("making the development admin token: %w", err)
			}
		}
	}
	if len(env.ignored) > 0 {
		log.Warn("make run sets these itself and ignores them in the environment; "+
			"MUSTER_DATABASE_URL, MUSTER_<SVC>_ADDR, MUSTER_NATS_* and MUSTER_CONSOLE_ADMIN_* choose its own",
			zap.Strings("variables", env.ignored))
	}
	return s, nil
}

// wiring are the variables, under every service's prefix, that the stack
// sets itself so that the parts find and trust one another; read from the
// environment they would point a service away from the stack.
var wiring = []string{"HTTP_ADDR", "DATABASE_URL", "NATS_URL", "NATS_SEED", "NATS_CA_FILE", "DEV_MODE",
	"TRUSTED_CALLERS", "SERVICE_KEY"}

// deliveryWiring points delivery at the simulator, with its credentials.
var deliveryWiring = []string{"DELIVERY_TWILIO_API_URL", "DELIVERY_TWILIO_ACCOUNT_SID", "DELIVERY_TWILIO_AUTH_TOKEN",
	"DELIVERY_SENDGRID_API_KEY", "DELIVERY_SENDGRID_API_URL", "DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY",
	"DELIVERY_INBOUND_EMAIL_DOMAIN", "DELIVERY_SENDGRID_INBOUND_SECRET"}

// consoleWiring points the console at the stack's services and names the
// admin the dev stack prints.
var consoleWiring = []string{"CONSOLE_CONTACTS_URL", "CONSOLE_CAMPAIGNS_URL", "CONSOLE_DELIVERY_URL",
	"CONSOLE_ADMIN_EMAIL", "CONSOLE_ADMIN_PASSWORD"}

// environment reads Options.Environment into each service's config and
// remembers the wiring variables it held, which the stack then overrides.
type environment struct {
	vars    map[string]string
	ignored []string
}

// overlay reads prefix's variables into cfg; more are whole names of
// this service's own wiring, besides the shared wiring suffixes.
func (e *environment) overlay(prefix string, cfg any, more ...string) error {
	if len(e.vars) == 0 {
		return nil
	}
	set, err := service.Overlay(prefix, cfg, e.vars)
	if err != nil {
		return err
	}
	for _, k := range set {
		if slices.Contains(wiring, strings.TrimPrefix(k, prefix)) || slices.Contains(more, k) {
			e.ignored = append(e.ignored, k)
		}
	}
	return nil
}

// startedApp is a started app: Run serves it, Close releases what it holds.
type startedApp interface {
	Run(ctx context.Context) error
	Close() error
}

// run serves a until ctx ends, then closes it.
func (s *Stack) run(ctx context.Context, name string, a startedApp) {
	s.wg.Go(func() {
		err := a.Run(ctx)
		err = errors.Join(err, a.Close())
		if err != nil {
			s.mu.Lock()
			s.errs = append(s.errs, fmt.Errorf("%s: %w", name, err))
			s.mu.Unlock()
			s.once.Do(func() { close(s.failed) })
		}
	})
}

// NATSOptions are the client options to connect to the stack's NATS as
// user (natsauth.Admin to inspect streams).
func (s *Stack) NATSOptions(user string) ([]nats.Option, error) {
	return natsauth.ClientOptions(user, s.NATSSeeds[user], s.NATSCAFile)
}

// Failed is closed when a service stops with an error.
func (s *Stack) Failed() <-chan struct{} { return s.failed }

// Stop shuts every service down gracefully, then the simulator and NATS,
// and returns what the services failed with, if anything.
func (s *Stack) Stop() error {
	s.cancel()
	s.wg.Wait()
	if s.simSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.simSrv.Shutdown(ctx)
		cancel()
	}
	if s.Sim != nil {
		s.Sim.Close()
	}
	if s.natsSrv != nil {
		s.natsSrv.Shutdown()
		s.natsSrv.WaitForShutdown()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// devReplyDomain is the reply addresses' domain in the dev stack; no mail
// reaches it but what the simulator posts.
const devReplyDomain = "replies.muster.local"

// simSendGridKey is the API key the simulator accepts for mail/send.
const simSendGridKey = "SG.muster-dev"

// reserve turns an address with port 0 into one with a free port. The port
// is released before the service binds it; on loopback nothing else races
// for it in practice.
func reserve(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("parsing address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	// Below the kernel's ephemeral range, so no outgoing connection takes
	// it before delivery binds it.
	free, err := testkit.FreeLoopbackPort(host)
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return net.JoinHostPort(host, strconv.Itoa(free)), nil
}
