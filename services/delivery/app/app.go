// Package app assembles the delivery service: the send worker on the SEND
// stream, Twilio's webhooks, and the message log API.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/redis/go-redis/v9"

	"github.com/musterhq/muster/services/delivery/api"
	"github.com/musterhq/muster/services/delivery/content"
	"github.com/musterhq/muster/services/delivery/freqcap"
	"github.com/musterhq/muster/services/delivery/mailer"
	"github.com/musterhq/muster/services/delivery/metrics"
	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/pause"
	"github.com/musterhq/muster/services/delivery/prefs"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/publish"
	"github.com/musterhq/muster/services/delivery/ratelimit"
	"github.com/musterhq/muster/services/delivery/receive"
	"github.com/musterhq/muster/services/delivery/retention"
	"github.com/musterhq/muster/services/delivery/review"
	"github.com/musterhq/muster/services/delivery/rhythm"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/smssend"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/outbox"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth"
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
	// SendGridTimeout bounds one mail/send call (a batch of up to 1,000
	// members); past it the batch's outcome is ambiguous.
	SendGridTimeout time.Duration `env:"SENDGRID_TIMEOUT" envDefault:"10s"`
	// Send false runs delivery without its send pipelines: it serves the
	// webhooks (members' replies and STOPs, status callbacks, email
	// events), the API and the consent streams, and sends nothing: a
	// deployment of such replicas on CPU of their own keeps a large send
	// from taking the CPU members' STOPs need (on one shared machine it
	// does not help; docs/performance.md, session 9).
	Send bool `env:"SEND" envDefault:"true"`
	// Workers is how many texts are in progress at once; most of a text's
	// time is spent waiting (PostgreSQL, Redis, Twilio), so many are
	// needed. Twilio calls are further bounded by TwilioMaxConns.
	Workers        int `env:"WORKERS" envDefault:"256"`
	TwilioMaxConns int `env:"TWILIO_MAX_CONNS" envDefault:"100"`
	// AckWait is how long JetStream waits before handing an unacked send
	// request to another worker (its holder died). It must exceed the
	// provider timeout; 0 means the timeout plus 20s.
	AckWait time.Duration `env:"ACK_WAIT" envDefault:"0s"`
	// SendGrid: email is sent only when an API key is configured.
	SendGridAPIKey string `env:"SENDGRID_API_KEY"`
	// SendGridAPIURL is empty for SendGrid itself, or the simulator's URL.
	SendGridAPIURL   string `env:"SENDGRID_API_URL"`
	SendGridFrom     string `env:"SENDGRID_FROM" envDefault:"alerts@example.org"`
	SendGridFromName string `env:"SENDGRID_FROM_NAME"`
	// SendGridWebhookKey is the event webhook's verification key as
	// SendGrid's console shows it (base64); events are refused without it.
	SendGridWebhookKey string `env:"SENDGRID_WEBHOOK_PUBLIC_KEY"`
	// UnsubscribeSecret seals unsubscribe links. Required outside
	// development mode, where an empty one is made up at start (links then
	// stop working on restart).
	UnsubscribeSecret string `env:"UNSUBSCRIBE_SECRET"`
	// UnsubscribeSecretPrevious lists (comma-separated) keys of links in
	// emails already sent: they still open, the current key seals. Since
	// unsubscribe links never expire, keep a rotated key here for good.
	UnsubscribeSecretPrevious string `env:"UNSUBSCRIBE_SECRET_PREVIOUS"`
	// ErasureKey keys the hash an erased member's suppressions are kept
	// as (package erasure): required outside development mode, 32+
	// characters, never rotated.
	ErasureKey string `env:"ERASURE_KEY"`
	// InboundEmailDomain is the host SendGrid's Inbound Parse receives
	// members' replies on (its MX points at SendGrid): campaign emails get
	// Reply-To reply+<message id>@ it and the inbound webhook is mounted.
	// Empty: no Reply-To, no webhook.
	InboundEmailDomain string `env:"INBOUND_EMAIL_DOMAIN"`
	// SendGridInboundSecret is the path secret of the Inbound Parse URL
	// (/webhooks/sendgrid/inbound/<secret>); _PREVIOUS (comma-separated)
	// are still accepted while SendGrid's settings change over.
	SendGridInboundSecret         string `env:"SENDGRID_INBOUND_SECRET"`
	SendGridInboundSecretPrevious string `env:"SENDGRID_INBOUND_SECRET_PREVIOUS"`
	// EmailWorkers is how many email requests are in progress at once:
	// enough to fill two 1,000-recipient batches while others are with
	// SendGrid (measured: 1,000 gave 20,400/s, 2,000 gave 22,000 to
	// 24,000/s, 4,000 used more CPU for less). A replica may hold eight
	// times as many requests (16,000: about 240 MB of 15 KB emails) and
	// reports each held one in progress every third of AckWait.
	// EmailLinger is how long a batch waits for company.
	EmailWorkers int           `env:"EMAIL_WORKERS" envDefault:"2000"`
	EmailLinger  time.Duration `env:"EMAIL_LINGER" envDefault:"5ms"`
	// RedisURL holds the shared rate-limit budgets and frequency caps.
	RedisURL    string `env:"REDIS_URL" envDefault:"redis://127.0.0.1:6379/0"`
	RedisPrefix string `env:"REDIS_PREFIX" envDefault:"muster:"`
	// Rates in segments per second; 0 is unlimited. Twilio: a long code
	// about 1, toll-free 3, short code 100, 10DLC by trust score.
	SenderRate  int `env:"SENDER_RATE" envDefault:"0"`
	ServiceRate int `env:"SERVICE_RATE" envDefault:"0"`
	AccountRate int `env:"ACCOUNT_RATE" envDefault:"0"`
	// Frequency caps per member across campaigns; 0 is no cap.
	CapPerDay  int `env:"CAP_PER_DAY" envDefault:"3"`
	CapPerWeek int `env:"CAP_PER_WEEK" envDefault:"10"`
	// SendWindow is when texts may arrive in the member's local time;
	// narrower than 08:00-21:00 if the organization wants.
	SendWindow string `env:"SEND_WINDOW" envDefault:"08:00-21:00"`
	// TimeZone is the organization's, for members whose zone is unknown.
	TimeZone string `env:"TIME_ZONE" envDefault:"America/New_York"`
	// MinOpen is the least time left in a window worth sending into.
	MinOpen time.Duration `env:"MIN_OPEN" envDefault:"2m"`
	// MaxAge expires messages still unsent this long after recording.
	MaxAge time.Duration `env:"MAX_AGE" envDefault:"72h"`
	// SweepEvery is how often deferred messages are checked for being due.
	SweepEvery time.Duration `env:"SWEEP_EVERY" envDefault:"1s"`
	// ReviewSweepEvery is how often possible opt-outs are checked for
	// their warning and their deadline (both in business days, so a
	// minute late is nothing).
	ReviewSweepEvery time.Duration `env:"REVIEW_SWEEP_EVERY" envDefault:"1m"`
	// Retention: how long each kind of data is kept (package retention,
	// docs/operations.md "Retention"); 0 keeps it for ever. PurgeEvery is
	// how often the purge runs.
	RetainBodies       time.Duration `env:"RETAIN_BODIES" envDefault:"2160h"`
	RetainReplies      time.Duration `env:"RETAIN_REPLIES" envDefault:"2160h"`
	RetainStatusEvents time.Duration `env:"RETAIN_STATUS_EVENTS" envDefault:"4320h"`
	RetainDeadLetters  time.Duration `env:"RETAIN_DEAD_LETTERS" envDefault:"720h"`
	RetainEmailEvents  time.Duration `env:"RETAIN_EMAIL_EVENTS" envDefault:"720h"`
	PurgeEvery         time.Duration `env:"PURGE_EVERY" envDefault:"1h"`
	// SettingsRefresh is how often settings saved on another replica are
	// picked up.
	SettingsRefresh time.Duration `env:"SETTINGS_REFRESH" envDefault:"5s"`
	// ReconcileLookupAfter is how long a text of unknown outcome waits
	// for a callback before it is looked up at Twilio (and sent again if
	// Twilio never received it). Keep it well above TWILIO_TIMEOUT.
	ReconcileLookupAfter time.Duration `env:"RECONCILE_LOOKUP_AFTER" envDefault:"2m"`
	// ReconcileEvery is how often messages of unknown outcome are checked.
	ReconcileEvery time.Duration `env:"RECONCILE_EVERY" envDefault:"30s"`
	// ReconcileAfter settles an unknown outcome that could not be looked
	// up (email, or Twilio unreachable) as failed.
	ReconcileAfter time.Duration `env:"RECONCILE_AFTER" envDefault:"15m"`
	OrgName        string        `env:"ORG_NAME" envDefault:"Muster"`
	HelpText       string        `env:"HELP_TEXT"`
	OptOutText     string        `env:"OPT_OUT_TEXT"`
	OptInText      string        `env:"OPT_IN_TEXT"`
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

// LoadConfig reads DELIVERY_* over the defaults. It does not judge the
// values: New does, before connecting anything, so `delivery migrate`
// needs only the database and not the secrets of a service that serves.
func LoadConfig() (Config, error) {
	cfg := DefaultConfig()
	if err := service.Load("DELIVERY_", &cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate judges the values as New does before connecting anything; the
// operator CLI's `muster check` calls it on a deployment's environment.
func (c Config) Validate() error { return c.validate() }

func (c Config) validate() error {
	var errs []error
	if c.TwilioAccountSID == "" || c.TwilioAuthToken == "" {
		errs = append(errs, errors.New("DELIVERY_TWILIO_ACCOUNT_SID and DELIVERY_TWILIO_AUTH_TOKEN are required"))
	}
	if c.TwilioFrom == "" && c.MessagingServiceSID == "" {
		errs = append(errs, errors.New("set DELIVERY_TWILIO_FROM or DELIVERY_TWILIO_MESSAGING_SERVICE_SID"))
	}
	if _, err := settings.Parse(c.settings()); err != nil {
		errs = append(errs, fmt.Errorf("default settings (DELIVERY_ORG_NAME, _HELP_TEXT, _SEND_WINDOW, _TIME_ZONE, _CAP_PER_*): %w", err))
	}
	if c.ReconcileLookupAfter <= c.TwilioTimeout {
		errs = append(errs, errors.New("DELIVERY_RECONCILE_LOOKUP_AFTER must be longer than DELIVERY_TWILIO_TIMEOUT, "+
			"or a text still in flight could be sent again"))
	}
	if c.PurgeEvery <= 0 {
		errs = append(errs, errors.New("DELIVERY_PURGE_EVERY must be positive"))
	}
	if c.RetainBodies < 0 || c.RetainReplies < 0 || c.RetainStatusEvents < 0 || c.RetainDeadLetters < 0 || c.RetainEmailEvents < 0 {
		errs = append(errs, errors.New("DELIVERY_RETAIN_* must be 0 (keep for ever) or positive"))
	}
	if c.RetainEmailEvents > 0 && c.RetainEmailEvents < 72*time.Hour {
		errs = append(errs, errors.New("DELIVERY_RETAIN_EMAIL_EVENTS must be 0 or at least 72h: SendGrid repeats an event for up to 72 hours"))
	}
	if err := secret.Check("DELIVERY_UNSUBSCRIBE_SECRET", c.UnsubscribeSecret, secret.MinLength, c.DevMode); err != nil {
		errs = append(errs, err)
	}
	if _, err := erasure.NewKey("DELIVERY_ERASURE_KEY", c.ErasureKey, c.DevMode); err != nil {
		errs = append(errs, err)
	}
	if c.UnsubscribeSecret != "" {
		if _, err := c.unsubscribeKeys(); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, c.providerSecrets()...)
	errs = append(errs, c.emailReplyErrors()...)
	if c.SendGridWebhookKey != "" {
		if _, err := sendgrid.ParsePublicKey(c.SendGridWebhookKey); err != nil {
			errs = append(errs, fmt.Errorf("DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY: %w", err))
		}
	}
	return errors.Join(errs...)
}

// The providers' own addresses: outside development mode real credentials
// go nowhere else.
const (
	twilioHost   = "api.twilio.com"
	sendGridHost = "api.sendgrid.com"
)

// providerSecrets checks the provider credentials outside development
// mode: none may be the simulator's or another known development value,
// and none may be sent to an address that is not the provider's (a
// compose default left pointing at the simulator would hand it the real
// auth token and send real traffic nowhere). Email needs the event
// webhook's key too, or bounces and spam reports would never suppress.
func (c Config) providerSecrets() []error {
	if c.DevMode {
		return nil
	}
	var errs []error
	for _, s := range []struct{ name, value string }{
		{"DELIVERY_TWILIO_AUTH_TOKEN", c.TwilioAuthToken}, {"DELIVERY_SENDGRID_API_KEY", c.SendGridAPIKey},
	} {
		if s.value != "" && secret.IsDevelopmentValue(s.value) {
			errs = append(errs, fmt.Errorf("%s is a known development value", s.name))
		}
	}
	if c.TwilioAccountSID == secret.SimulatorAccountSID {
		errs = append(errs, errors.New("DELIVERY_TWILIO_ACCOUNT_SID is the simulator's"))
	}
	if err := providerURL("DELIVERY_TWILIO_API_URL", c.TwilioAPIURL, twilioHost); err != nil {
		errs = append(errs, err)
	}
	if c.SendGridAPIKey != "" {
		if err := providerURL("DELIVERY_SENDGRID_API_URL", c.SendGridAPIURL, sendGridHost); err != nil {
			errs = append(errs, err)
		}
		if c.SendGridWebhookKey == "" {
			errs = append(errs, errors.New("DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY is required when email is on: without it bounces and spam reports never suppress"))
		}
	}
	return errs
}

// providerURL accepts an empty URL (the provider itself) or the
// provider's own host over https.
func providerURL(name, raw, host string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Hostname() != host {
		return fmt.Errorf("%s is %q: outside development mode only https://%s (or empty) may receive the real credentials", name, raw, host)
	}
	return nil
}

// unsubscribeKeys is the keyring of the unsubscribe secrets.
func (c Config) unsubscribeKeys() (secret.Keyring, error) {
	k, err := secret.NewKeyring([]byte(c.UnsubscribeSecret), secret.SplitList(c.UnsubscribeSecretPrevious)...)
	if err != nil {
		return secret.Keyring{}, fmt.Errorf("DELIVERY_UNSUBSCRIBE_SECRET and _PREVIOUS: %w", err)
	}
	return k, nil
}

// ackWait is longer than the provider's timeout (Twilio's for texts,
// SendGrid's for email), so a slow call is never redelivered to a second
// worker while it is still in flight.
func (c Config) ackWait(providerTimeout time.Duration) time.Duration {
	if c.AckWait > providerTimeout {
		return c.AckWait
	}
	return providerTimeout + 20*time.Second
}

// GCPercent is the garbage collector's target delivery's binary runs with
// when GOGC is not set. Sending, delivery's live heap is small (tens of
// megabytes) while it allocates about 25 KB a text, and it runs about
// 700 goroutines (workers, provider connections, webhook requests) whose
// stacks every collection scans: at Go's default of 100 the collector
// took about a fifth of its CPU. At 400 it collects a quarter as often,
// for about 1.7 times the peak memory while texting and twice while
// sending 12 KB emails (docs/performance.md, "Session 15").
const GCPercent = 400

// The default HELP replies name the member's own rhythm keywords, since a
// night-shift member who only knows STOP loses the union for good; with an
// organization name of 100 characters (the most settings take) they still
// fit the 306-character limit of two segments (a test holds them to it).
const (
	defaultHelp   = "%s: member alerts, a few msgs/month. Msg & data rates may apply. Reply NIGHTS for texts 4-9pm only, PAUSE to pause 30 days, PREFS for settings, STOP to opt out."
	defaultHelpES = "%s: alertas para miembros, pocos mensajes al mes. Pueden aplicarse tarifas. Responda NOCHES para recibir solo de 16 a 21 h, PAUSA para pausar 30 días, ALTO para no recibir más."
)

// settings are the organization's settings as the environment gives them:
// the defaults until an admin saves others. Replies not configured are
// written naming the organization.
func (c Config) settings() settings.Settings {
	s := settings.Settings{
		OrgName: c.OrgName, HelpText: c.HelpText, OptOutText: c.OptOutText, OptInText: c.OptInText,
		SendWindow: c.SendWindow, TimeZone: c.TimeZone, CapPerDay: c.CapPerDay, CapPerWeek: c.CapPerWeek,
	}
	if s.OptOutText == "" {
		s.OptOutText = fmt.Sprintf("%s: You are unsubscribed and will get no more texts. Reply START to resubscribe.", c.OrgName)
	}
	if s.OptInText == "" {
		s.OptInText = fmt.Sprintf("%s: You are resubscribed to texts. Reply HELP for help, STOP to opt out.", c.OrgName)
	}
	if s.HelpText == "" {
		s.HelpText = fmt.Sprintf(defaultHelp, c.OrgName)
	}
	s.HelpTextES = fmt.Sprintf(defaultHelpES, c.OrgName)
	s.OptOutTextES = fmt.Sprintf("%s: Ya no recibirá más mensajes. Responda INICIAR para volver a recibirlos.", c.OrgName)
	s.OptInTextES = fmt.Sprintf("%s: Volverá a recibir mensajes. Responda AYUDA para ayuda, ALTO para no recibir más.", c.OrgName)
	s.JoinWords = strings.Join(consent.DefaultJoin, ", ")
	s.JoinText = fmt.Sprintf("%s: Welcome! You will get member alerts, a few msgs/month. Msg & data rates may apply. Reply HELP for help, STOP to opt out.", c.OrgName)
	s.JoinTextES = fmt.Sprintf("%s: ¡Bienvenido! Recibirá alertas para miembros, pocos mensajes al mes. Pueden aplicarse tarifas. Responda AYUDA para ayuda, ALTO para no recibir más.", c.OrgName)
	return s
}

// PublicRoutes are the routes of delivery that answer without service
// credentials, each because it carries a proof of its own: Twilio's
// webhooks (X-Twilio-Signature), SendGrid's event webhook (its ECDSA
// signature), SendGrid's Inbound Parse (the secret in its path), the
// unsubscribe page and the preferences page (a sealed token in the link).
// Every other route is for trusted services only; the security suite
// holds the router to this list.
func PublicRoutes() []svcauth.Route {
	return []svcauth.Route{
		{Method: http.MethodPost, Pattern: twilio.StatusPath},
		{Method: http.MethodPost, Pattern: twilio.InboundPath},
		{Method: http.MethodPost, Pattern: sendgrid.EventsPath},
		{Method: http.MethodPost, Pattern: sendgrid.InboundPath},
		{Method: http.MethodGet, Pattern: unsubscribe.Path},
		{Method: http.MethodPost, Pattern: unsubscribe.Path},
		{Method: http.MethodGet, Pattern: prefs.Pattern},
		{Method: http.MethodPost, Pattern: prefs.Pattern},
	}
}

// App is a running delivery service.
type App struct {
	deps   *service.Deps
	server *web.Server
	redis  *redis.Client
	rhythm *rhythm.Service
	prefs  *prefs.Signer
}

// Options are the parts a test may replace; production passes none.
type Options struct {
	// Clock drives quiet hours, caps, deferrals and reconciliation.
	Clock func() time.Time
	// SMS replaces the Twilio client (a provider.SMSFinder too, when it
	// can look texts up for the reconciler).
	SMS provider.SMSSender
	// TracerProvider makes the service's spans; a no-op provider when nil.
	TracerProvider trace.TracerProvider
}

// String shows the configuration with its secrets masked, for the log.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "****"
	}
	m := c
	m.TwilioAuthToken, m.SendGridAPIKey, m.UnsubscribeSecret = mask(c.TwilioAuthToken), mask(c.SendGridAPIKey), mask(c.UnsubscribeSecret)
	m.UnsubscribeSecretPrevious, m.ErasureKey = mask(c.UnsubscribeSecretPrevious), mask(c.ErasureKey)
	m.SendGridInboundSecret, m.SendGridInboundSecretPrevious = mask(c.SendGridInboundSecret), mask(c.SendGridInboundSecretPrevious)
	return service.Describe(c.Config, m)
}

// New connects everything and starts consuming; Run serves HTTP and
// Close releases what New acquired.
func New(ctx context.Context, cfg Config, log *zap.Logger, o Options) (*App, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuring delivery: %w", err)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	guard, err := cfg.APIGuard("delivery", log)
	if err != nil {
		return nil, fmt.Errorf("configuring delivery: %w", err)
	}
	redisOpts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("parsing DELIVERY_REDIS_URL: %w", err)
	}
	deps, err := service.Open(ctx, "delivery", cfg.Config, migrations.FS, log, o.TracerProvider)
	if err != nil {
		return nil, fmt.Errorf("starting delivery: %w", err)
	}
	deps.Clock = o.Clock
	a := &App{deps: deps, redis: redis.NewClient(redisOpts)}
	deps.Release("redis", a.redis.Close)
	if err := a.start(ctx, cfg, o, guard); err != nil {
		_ = a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, cfg Config, o Options, guard *svcauth.Guard) error {
	log := a.deps.Log
	// Routes are added to r below, before the server serves; all but the
	// public ones need service credentials.
	r := chi.NewRouter()
	checks := a.deps.Checks()
	checks["redis"] = func(ctx context.Context) error { return a.redis.Ping(ctx).Err() }
	// A channel whose provider refuses our credentials is not ready to
	// send; the Kubernetes probe excludes these two checks so members'
	// STOPs keep reaching delivery (deployments/k8s/delivery.yaml).
	m := metrics.New(a.deps.Registry)
	smsGate := pause.New("sms", twilio.Name, m, o.Clock, log.Named("pause"))
	emailGate := pause.New("email", sendgrid.Name, m, o.Clock, log.Named("pause"))
	checks["sms-sending"], checks["email-sending"] = smsGate.Check, emailGate.Check
	var err error
	if a.server, err = a.deps.NewServer(guard.Protect(r, PublicRoutes()), checks, web.MetricsGuard(guard.Metrics),
		web.Excludable("sms-sending", "email-sending")); err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = a.server.URL()
	}
	if o.SMS == nil {
		// Twilio posts each text's status callbacks under publicURL.
		client, err := twilio.NewClient(twilio.Config{
			AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, APIURL: cfg.TwilioAPIURL, Timeout: cfg.TwilioTimeout,
			MaxConns: cfg.TwilioMaxConns, PublicURL: publicURL, TracerProvider: o.TracerProvider,
		})
		if err != nil {
			return err
		}
		o.SMS = client
	}
	key, err := erasure.NewKey("DELIVERY_ERASURE_KEY", cfg.ErasureKey, cfg.DevMode)
	if err != nil {
		return err
	}
	st := store.New(a.deps.Pool, o.Clock).WithErasureKey(key)
	// Consent changes go out through the outbox, written with the change.
	relay := outbox.NewRelay(a.deps.Pool, a.deps.JS, time.Second, log.Named("outbox"))
	st.OnOutbox(relay.Wake)
	a.deps.Go(relay.Run)
	if err := outbox.RegisterBacklog(a.deps.Registry, a.deps.Pool, "delivery"); err != nil {
		return err
	}
	pub := publish.New(a.deps.JS, o.Clock, log.Named("publish"))
	src, err := settings.NewSource(st, cfg.settings(), log.Named("settings"))
	if err != nil {
		return err
	}
	if err := src.Refresh(ctx); err != nil {
		log.Warn("stored settings not read; using the configured defaults", zap.Error(err))
	}
	a.deps.Go(func(ctx context.Context) { src.Run(ctx, cfg.SettingsRefresh) })
	api.New(st, a.deps.JS, src, log.Named("api")).Routes(r)
	// Organizers' account email (invitations, password resets) for the
	// console, and who members' messages come from, for its setup page.
	var accountMail api.EmailSender
	if cfg.SendGridAPIKey != "" {
		accountMail = cfg.sendGrid(func() string { return src.Current().Settings.OrgName }, o.TracerProvider)
	}
	api.NewAccountEmails(accountMail, api.Senders{
		SMSFrom: cfg.TwilioFrom, MessagingServiceSID: cfg.MessagingServiceSID, EmailFrom: cfg.SendGridFrom, EmailFromName: cfg.SendGridFromName,
	}, log.Named("api")).Routes(r)
	// Possible opt-outs: organizers decide them through the console; the
	// sweeper warns before the deadline and treats them as opt-outs at it.
	purger := retention.New(a.deps.Pool, retention.Policy{
		Bodies: cfg.RetainBodies, Replies: cfg.RetainReplies, StatusEvents: cfg.RetainStatusEvents,
		DeadLetters: cfg.RetainDeadLetters, EmailEvents: cfg.RetainEmailEvents,
	}, o.Clock, a.deps.Registry, log.Named("retention"))
	a.deps.Go(func(ctx context.Context) { purger.Run(ctx, cfg.PurgeEvery) })
	r.Post("/purge", purger.Handler(log.Named("retention"))) // the operator's muster purge-now
	reviewer := review.New(st, o.Clock, log.Named("review"))
	api.NewReviews(st, reviewer, o.Clock, log.Named("api")).Routes(r)
	a.deps.Go(func(ctx context.Context) { reviewer.Sweep(ctx, cfg.ReviewSweepEvery) })
	metrics.Reviews(a.deps.Registry, func(ctx context.Context) (int, int, error) { return st.ReviewCounts(ctx, o.Clock()) })
	recv := receive.New(st, pub, src.Rules, o.Clock, log.Named("receive"))
	a.deps.Go(recv.RunBatches)
	twilio.NewWebhooks(cfg.TwilioAuthToken, publicURL, traceStatus(recv, st, o.TracerProvider, log.Named("twilio")), log.Named("twilio")).Routes(r)
	if cfg.UnsubscribeSecret == "" { // development mode only: validate refuses it otherwise
		cfg.UnsubscribeSecret = secret.Generate()
		log.Warn("no DELIVERY_UNSUBSCRIBE_SECRET: unsubscribe links will stop working when delivery restarts")
	}
	keys, err := cfg.unsubscribeKeys()
	if err != nil {
		return err
	}
	links := unsubscribe.NewSigner(keys, publicURL)
	// The unsubscribe page names the organization as an admin last saved it.
	unsubscribe.NewHandler(links, recv, func() string { return src.Current().Settings.OrgName }, log.Named("unsubscribe")).Routes(r)
	// Members' own rhythm: the states' stricter hours (read now, so no
	// text goes out before they are known), the keywords and the
	// preferences page, whose links share the unsubscribe keyring under
	// a key of their own.
	states := &rhythm.StateRules{}
	if err := states.Refresh(ctx, st); err != nil {
		return fmt.Errorf("reading state rules: %w", err)
	}
	a.deps.Go(func(ctx context.Context) { states.Run(ctx, st, cfg.SettingsRefresh, log.Named("rhythm")) })
	a.prefs = prefs.NewSigner(keys, publicURL, o.Clock)
	a.rhythm = rhythm.New(st, states, func() rhythm.Organization {
		rules := src.Rules()
		return rhythm.Organization{Name: src.Current().Settings.OrgName, Window: rules.Window, Zone: rules.Zone}
	}, a.prefs.URL, log.Named("rhythm"))
	recv.WithRhythm(a.rhythm)
	prefs.NewHandler(a.prefs, a.rhythm, o.Clock, log.Named("prefs")).Routes(r)
	api.NewRhythm(st, states, log.Named("api")).Routes(r)
	if cfg.SendGridWebhookKey != "" {
		key, _ := sendgrid.ParsePublicKey(cfg.SendGridWebhookKey) // validated in New
		sendgrid.NewEventWebhook(key, recv, log.Named("sendgrid")).Routes(r)
	}
	if err := a.startEmailReplies(r, cfg, st, src, o.Clock); err != nil {
		return err
	}
	// The message counts come from the log's own moves, so they match it.
	providers := map[string]string{string(events.ChannelSMS): twilio.Name, string(events.ChannelEmail): sendgrid.Name}
	st.OnMove(func(mv store.Move) { m.Count(mv.Channel, providers[mv.Channel], mv.Status, mv.ErrorCode) })
	w := smssend.New(smssend.Config{
		Provider: twilio.Name, From: cfg.TwilioFrom, ServiceID: cfg.MessagingServiceSID, AccountID: cfg.TwilioAccountSID,
		Rules: src.Rules, MinOpen: cfg.MinOpen, MaxAge: cfg.MaxAge,
		SenderRate: cfg.SenderRate, ServiceRate: cfg.ServiceRate, AccountRate: cfg.AccountRate, Clock: o.Clock,
		States: states, Gate: smsGate, TracerProvider: o.TracerProvider,
	}, st, o.SMS, pub,
		ratelimit.New(a.redis, cfg.RedisPrefix),
		freqcap.New(a.redis, cfg.RedisPrefix),
		m, log.Named("worker"))
	a.deps.Go(w.RunBatches)
	api.NewForecast(w, log.Named("api")).Routes(r)
	if cfg.Send {
		a.deps.Go(func(ctx context.Context) { w.Sweep(ctx, cfg.SweepEvery) })
		a.deps.Go(func(ctx context.Context) {
			w.Reconcile(ctx, cfg.ReconcileLookupAfter, cfg.ReconcileAfter, cfg.ReconcileEvery)
		})
	}
	// Opt-outs made elsewhere (an organizer in contacts) reach the
	// suppression list; one worker keeps each address's changes in order.
	err = a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamConsent, Durable: "delivery-consent", Workers: 1,
	}, receive.ConsentHandler(st, o.Clock, log.Named("consent")))
	if err != nil {
		return err
	}
	// Erased members: one worker, erasures are rare.
	err = a.deps.Consume(ctx, stream.Consumer{Stream: events.StreamErasure, Durable: "delivery-erasure", Workers: 1},
		erasure.Handler(st, log.Named("erasure")))
	if err != nil {
		return err
	}
	err = a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamDeadLetter, Durable: "delivery-dead-letters",
		Subjects: []string{events.SubjectDeadLetterPrefix + "delivery-send", events.SubjectDeadLetterPrefix + "delivery-send-email",
			events.SubjectDeadLetterPrefix + "delivery-consent"},
	}, api.DeadLetterHandler(st))
	if err != nil {
		return err
	}
	if !cfg.Send {
		log.Info("sending is off (DELIVERY_SEND=false): serving webhooks, the API and consent only")
		return nil
	}
	if err := a.startEmail(ctx, cfg, st, pub, links, emailGate,
		func() string { return src.Current().Settings.OrgName }); err != nil {
		return err
	}
	metrics.QueueDepth(a.deps.Registry, a.deps.JS, events.StreamSend, "delivery-send", "sms")
	metrics.QueueDepth(a.deps.Registry, a.deps.JS, events.StreamSend, "delivery-send-email", "email")
	return a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamSend, Durable: "delivery-send", Workers: cfg.Workers, Parts: stream.MaxBatchParts,
		// Retried dead letters come back on delivery.retry.sms.
		Subjects: []string{events.SendSubject(events.ChannelSMS), events.RetrySubject(events.ChannelSMS)},
		AckWait:  cfg.ackWait(cfg.TwilioTimeout),
	}, w.Handle)
}

// startEmail runs the email pipeline: with SendGrid configured it sends;
// without, email requests are logged as failed with the reason, so none
// is silently left behind.
func (a *App) startEmail(ctx context.Context, cfg Config, st *store.Store, pub *publish.Publisher, links *unsubscribe.Signer, gate *pause.Gate, org func() string) error {
	var sender mailer.Sender = unconfigured{}
	if cfg.SendGridAPIKey != "" {
		sender = cfg.sendGrid(org, a.deps.TracerProvider)
	}
	m := mailer.New(mailer.Config{Linger: cfg.EmailLinger, MaxBatch: sendgrid.MaxPersonalizations, ReplyDomain: cfg.InboundEmailDomain,
		Prefs: a.prefs.URL, Gate: gate, Contents: content.NewReader(content.NewStream(a.deps.JS), 0)}, st, sender, pub, links, a.deps.Log.Named("mailer"))
	a.deps.Go(m.Run)
	return a.deps.Consume(ctx, stream.Consumer{
		Stream: events.StreamSend, Durable: "delivery-send-email", Workers: cfg.EmailWorkers, Parts: stream.MaxBatchParts,
		Subjects: []string{events.SendSubject(events.ChannelEmail), events.RetrySubject(events.ChannelEmail)}, AckWait: cfg.ackWait(cfg.SendGridTimeout),
	}, m.Handle)
}

// sendGrid is a SendGrid client for the configured account; org names
// the sender when DELIVERY_SENDGRID_FROM_NAME does not.
func (c Config) sendGrid(org func() string, tp trace.TracerProvider) *sendgrid.Client {
	return sendgrid.NewClient(sendgrid.Config{
		APIKey: c.SendGridAPIKey, APIURL: c.SendGridAPIURL, From: c.SendGridFrom, FromName: c.SendGridFromName, Name: org, Timeout: c.SendGridTimeout,
		TracerProvider: tp,
	})
}

// unconfigured stands where SendGrid is not set up: every batch fails for
// good, with a reason the message log shows.
type unconfigured struct{}

func (unconfigured) Send(context.Context, provider.EmailBatch) (string, error) {
	return "", &provider.SendError{Kind: provider.Permanent, Code: "not_configured", Err: errors.New("email is not configured: set DELIVERY_SENDGRID_API_KEY")}
}

// Rhythm applies members' rhythm keywords (NIGHTS, PAUSE n, ...): what
// the inbound webhook calls for a consent.Reading that rhythm.Handles.
func (a *App) Rhythm() *rhythm.Service { return a.rhythm }

// PrefsURL is a member's signed preferences link.
func (a *App) PrefsURL(address string) string { return a.prefs.URL(address) }

// URL is the base URL the service listens on.
func (a *App) URL() string { return a.server.URL() }

// Routes is every route the service answers, for the security suite.
func (a *App) Routes() chi.Routes { return a.server.Routes() }

// Run serves until ctx ends, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	return a.deps.Serve(ctx, a.server)
}

// Close releases the database pool, the NATS connection and the Redis
// client. It is safe after Run has returned and to call twice.
func (a *App) Close() error { return a.deps.Shutdown() }
