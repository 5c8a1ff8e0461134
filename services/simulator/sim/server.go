// Package sim is a stand-in for Twilio's and SendGrid's HTTP APIs, so the
// real twilio-go and sendgrid-go clients can send to it in development and
// end-to-end tests. It also plays the members' phones (replies to the
// inbound webhook), Twilio's signed status callbacks and SendGrid's signed
// event webhook.
//
// For fault and compliance tests it can slow its answers (SetLatency),
// fail or half-fail sends by rule (SetFaults, SetEmailFaults), reorder and
// repeat automatic callbacks (SetCallbackOrder, SetCallbackRepeat) and
// repeat event batches (SetEmailEventRepeat); Count, SentTo and Duplicates
// answer "was anything sent twice?" without copying the outbox. Every knob
// is also reachable over HTTP under /sim for `make run`.
package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
)

// Defaults applied by New to an empty Config field, so a zero Config gives a
// working simulator. They are alphanumeric because twilio-go refuses
// credentials with other characters.
const (
	DefaultAccountSID      = "AC00000000000000000000000000000000"
	DefaultAuthToken       = "simtoken0000000000000000000000000"
	DefaultCallbackWorkers = 8
)

// Config says which credentials the simulator accepts and how it behaves
// towards the platform's webhooks.
type Config struct {
	// AccountSID and AuthToken are the Twilio credentials clients must use;
	// AuthToken also signs webhooks. Empty means DefaultAccountSID and
	// DefaultAuthToken.
	AccountSID, AuthToken string
	// SendGridKey is the API key /v3/mail/send accepts. Empty accepts any
	// non-empty bearer token.
	SendGridKey string
	// InboundURL is where member replies are POSTed (the Twilio inbound
	// message webhook URL).
	InboundURL string
	// CallbackDelay is the delay before the first automatic status callback.
	CallbackDelay time.Duration
	// AutoCallbacks fires sent then delivered status callbacks for every
	// message that has a StatusCallback URL.
	AutoCallbacks bool
	// CallbackWorkers bounds concurrent automatic callbacks (default 8).
	CallbackWorkers int
	// CallbackOrder is the order of each message's automatic callbacks:
	// in_order (default), reversed or shuffled. SetCallbackOrder changes it.
	CallbackOrder CallbackOrder
	// CallbackRepeat posts each automatic callback this many times in a row
	// (default 1). SetCallbackRepeat changes it.
	CallbackRepeat int

	// Latency is added before answering each Messages.json and mail/send
	// request. SetLatency changes it.
	Latency time.Duration
	// FaultHold bounds how long a timeout_after_accept fault holds a
	// request (default DefaultFaultHold).
	FaultHold time.Duration

	// InboundParseURL is where members' emails are POSTed, as SendGrid's
	// Inbound Parse posts them (multipart/form-data); the URL carries its
	// secret, as SendGrid's settings do.
	InboundParseURL string
	// EventWebhookURL is where SendGrid event batches are POSTed, signed
	// with SendGridEventKey.
	EventWebhookURL string
	// AutoEmailEvents posts processed then delivered events for every
	// email mail/send accepts. SetAutoEmailEvents changes it.
	AutoEmailEvents bool
	// EmailEventRepeat posts each automatic event batch this many times
	// (default 1). SetEmailEventRepeat changes it.
	EmailEventRepeat int
	// SendGridEventKey is the P-256 key that signs event webhook requests;
	// nil means New generates one. SendGridPublicKey returns its public half.
	SendGridEventKey *ecdsa.PrivateKey

	// Clock stamps the messages, statuses and replies the simulator keeps
	// (Twilio's date_created and date_updated); time.Now when nil. A test
	// that moves the platform's clock hands the simulator the same one, as
	// Twilio and a real deployment agree on the time. Delays, signatures'
	// timestamps and rate-limit windows keep the real clock.
	Clock func() time.Time
}

// Server is the simulator. It is safe for concurrent use; create it with
// New and release its callback workers with Close.
type Server struct {
	cfg     Config
	log     *zap.Logger
	msgs    *messageStore
	emails  *emailStore
	queue   *callbackQueue
	httpc   *http.Client
	handler http.Handler

	settings    settings
	faults      *faultSet
	emailFaults *faultSet
	events      *eventQueue
	eventKey    *ecdsa.PrivateKey
	publicKey   string // base64 DER of eventKey's public key

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New builds a simulator and starts its callback workers and event
// batcher. An unknown Config.CallbackOrder or a SendGridEventKey that is not
// a usable ECDSA key panics.
// NewHTTPServer is the http.Server the simulator's command and the dev
// stack serve it with. Its timeouts bound a slow or stalled client; the
// write timeout stays above any latency or fault hold a test configures
// (DefaultFaultHold is 30s), so a slowed answer is not cut by the server.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      3 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}

func New(cfg Config, log *zap.Logger) *Server {
	if cfg.AccountSID == "" {
		cfg.AccountSID = DefaultAccountSID
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = DefaultAuthToken
	}
	if cfg.CallbackWorkers <= 0 {
		cfg.CallbackWorkers = DefaultCallbackWorkers
	}
	if cfg.CallbackOrder == "" {
		cfg.CallbackOrder = CallbackInOrder
	}
	if !cfg.CallbackOrder.valid() {
		panic(fmt.Sprintf("sim: New: unknown CallbackOrder %q", cfg.CallbackOrder))
	}
	cfg.CallbackRepeat = max(cfg.CallbackRepeat, 1)
	cfg.EmailEventRepeat = max(cfg.EmailEventRepeat, 1)
	cfg.Latency = max(cfg.Latency, 0)
	if cfg.FaultHold <= 0 {
		cfg.FaultHold = DefaultFaultHold
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	key := cfg.SendGridEventKey
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic("sim: New: generate event webhook key: " + err.Error())
		}
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		panic("sim: New: SendGridEventKey: " + err.Error())
	}
	if log == nil {
		log = zap.NewNop()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Every worker may hold a connection to the same webhook host; keep them
	// all alive so thousands of callbacks do not churn ephemeral ports.
	// The total is not capped either: the default cap of 100 would close
	// and redial connections whenever more workers than that post at once.
	transport.MaxIdleConnsPerHost = cfg.CallbackWorkers + 4
	transport.MaxIdleConns = 0
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		log:    log.Named("simulator"),
		msgs:   newMessageStore(),
		emails: &emailStore{},
		queue:  newCallbackQueue(),
		httpc: &http.Client{
			Transport: transport,
			Timeout:   10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		settings: settings{
			latency: cfg.Latency, order: cfg.CallbackOrder, repeat: cfg.CallbackRepeat,
			autoEmailEvents: cfg.AutoEmailEvents, emailRepeat: cfg.EmailEventRepeat,
		},
		faults:      &faultSet{kinds: twilioFaultKinds},
		emailFaults: &faultSet{kinds: emailFaultKinds},
		events:      newEventQueue(),
		eventKey:    key,
		publicKey:   base64.StdEncoding.EncodeToString(der),
		ctx:         ctx,
		cancel:      cancel,
	}
	s.handler = s.routes()
	s.startCallbackWorkers()
	s.startEventBatcher()
	return s
}

// Handler returns the HTTP handler serving the Twilio, SendGrid and /sim
// control routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the callback workers, drops pending automatic callbacks and
// waits for in-flight ones to end. It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.queue.close()
		s.events.close()
		s.wg.Wait()
		s.httpc.CloseIdleConnections()
	})
}

// Outbox returns a copy of the outbound SMS messages in send order. It
// copies every message; tests polling a large outbox should use Len, Count,
// SentTo or OutboxSince instead.
func (s *Server) Outbox() []Message { return s.msgs.list("") }

// OutboxSince returns a copy of the outbox from position n on (0 is the
// first message), so a test can read a growing outbox incrementally. Reset
// starts positions over.
func (s *Server) OutboxSince(n int) []Message { return s.msgs.since(n) }

// Len returns the number of messages in the outbox, of every direction,
// without copying it.
func (s *Server) Len() int { return s.msgs.length() }

// Count returns the number of outbound-api messages recorded: those the
// platform sent through the Messages API, including ones recorded with a
// fault. TwiML replies are not counted.
func (s *Server) Count() int { return s.msgs.count() }

// SentTo returns the number of outbound-api messages recorded to the
// number to.
func (s *Server) SentTo(to string) int { return s.msgs.countTo(to) }

// Duplicates returns the outbound-api (To, Body) pairs recorded more than
// once, with their counts, keyed by To + " " + Body. An empty map proves
// nothing was sent twice.
func (s *Server) Duplicates() map[string]int { return s.msgs.duplicates() }

// Message returns the stored message with the given SID, for tests that
// follow one message's status.
func (s *Server) Message(sid string) (Message, bool) { return s.msgs.get(sid) }

// Reset clears the SMS outbox; pending automatic callbacks for the cleared
// messages are dropped.
func (s *Server) Reset() { s.msgs.reset() }

// Emails returns a copy of the recorded emails, one per recipient.
func (s *Server) Emails() []Email { return s.emails.list() }

// EmailCount is how many emails were recorded, without copying them: for
// tests and benchmarks that poll while thousands arrive.
func (s *Server) EmailCount() int { return s.emails.length() }

// EmailsAt returns the recorded emails at the given positions (in the
// order Emails lists them), writing out only the requests that hold
// them: for benchmarks that check a few of a hundred thousand.
func (s *Server) EmailsAt(positions ...int) []Email { return s.emails.at(positions) }

// EmailBytes is the size of the mail/send requests the simulator keeps
// to answer tests: the memory it holds for what it was sent.
func (s *Server) EmailBytes() int { return s.emails.bytes() }

// ResetEmails clears the recorded emails and drops their pending automatic
// events.
func (s *Server) ResetEmails() {
	s.emails.reset()
	s.events.drop()
}

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Route("/2010-04-01/Accounts/{AccountSid}", func(r chi.Router) {
		r.Post("/Messages.json", s.handleCreateMessage)
		r.Get("/Messages.json", s.handleListMessages)
		r.Get("/Messages/{Sid}.json", s.handleFetchMessage)
	})
	r.Post("/v3/mail/send", s.handleMailSend)
	r.Get("/v3/user/webhooks/event/settings/signed", s.handleSignedSettings)
	r.Route("/sim", func(r chi.Router) {
		r.Get("/outbox", s.handleOutbox)
		r.Delete("/outbox", s.handleOutboxReset)
		r.Get("/stats", s.handleStats)
		r.Post("/reply", s.handleReply)
		r.Post("/callbacks", s.handleCallback)
		r.Get("/emails", s.handleEmails)
		r.Delete("/emails", s.handleEmailsReset)
		r.Get("/settings", s.handleSettings)
		r.Patch("/settings", s.handleSettingsPatch)
		r.Get("/faults", s.handleFaults(s.faults))
		r.Put("/faults", s.handleFaultsPut(s.faults))
		r.Delete("/faults", s.handleFaultsDelete(s.faults))
		r.Route("/sendgrid", func(r chi.Router) {
			r.Get("/public-key", s.handlePublicKey)
			r.Post("/events", s.handleEmailEvents)
			r.Post("/reply", s.handleEmailReply)
			r.Get("/faults", s.handleFaults(s.emailFaults))
			r.Put("/faults", s.handleFaultsPut(s.emailFaults))
			r.Delete("/faults", s.handleFaultsDelete(s.emailFaults))
		})
	})
	return r
}

// newSID returns a Twilio-shaped SID: prefix plus 32 lowercase hex digits.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}

// signature computes Twilio's X-Twilio-Signature for a form POST to
// fullURL: base64(HMAC-SHA1(token, URL + each name+value, sorted by name)).
func signature(token, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorJSON is the body of /sim control route errors.
type errorJSON struct {
	Error string `json:"error"`
}
