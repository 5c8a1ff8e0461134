// Package sim is a stand-in for Twilio's and SendGrid's HTTP APIs, so the
// real twilio-go and sendgrid-go clients can send to it in development and
// end-to-end tests. It also plays the members' phones (replies to the
// inbound webhook) and Twilio's signed status callbacks.
package sim

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
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

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New builds a simulator and starts its callback workers.
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
	if log == nil {
		log = zap.NewNop()
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Every worker may hold a connection to the same webhook host; keep them
	// all alive so thousands of callbacks do not churn ephemeral ports.
	transport.MaxIdleConnsPerHost = cfg.CallbackWorkers + 4
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
		ctx:    ctx,
		cancel: cancel,
	}
	s.handler = s.routes()
	s.startCallbackWorkers()
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
		s.wg.Wait()
		s.httpc.CloseIdleConnections()
	})
}

// Outbox returns a copy of the outbound SMS messages in send order.
func (s *Server) Outbox() []Message { return s.msgs.list("") }

// Message returns the stored message with the given SID, for tests that
// follow one message's status.
func (s *Server) Message(sid string) (Message, bool) { return s.msgs.get(sid) }

// Reset clears the SMS outbox; pending automatic callbacks for the cleared
// messages are dropped.
func (s *Server) Reset() { s.msgs.reset() }

// Emails returns a copy of the recorded emails, one per recipient.
func (s *Server) Emails() []Email { return s.emails.list() }

// ResetEmails clears the recorded emails.
func (s *Server) ResetEmails() { s.emails.reset() }

func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Route("/2010-04-01/Accounts/{AccountSid}", func(r chi.Router) {
		r.Post("/Messages.json", s.handleCreateMessage)
		r.Get("/Messages/{Sid}.json", s.handleFetchMessage)
	})
	r.Post("/v3/mail/send", s.handleMailSend)
	r.Route("/sim", func(r chi.Router) {
		r.Get("/outbox", s.handleOutbox)
		r.Delete("/outbox", s.handleOutboxReset)
		r.Post("/reply", s.handleReply)
		r.Post("/callbacks", s.handleCallback)
		r.Get("/emails", s.handleEmails)
		r.Delete("/emails", s.handleEmailsReset)
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
