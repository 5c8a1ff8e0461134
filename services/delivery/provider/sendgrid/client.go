// Package sendgrid sends email through SendGrid's v3 mail/send API with
// the official sendgrid-go client, and receives SendGrid's signed event
// webhook. It is the only package that knows SendGrid's wire format.
package sendgrid

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sendgrid/rest"
	sg "github.com/sendgrid/sendgrid-go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/shared/tracing"
)

// MaxPersonalizations is how many recipients one mail/send may carry.
const MaxPersonalizations = 1000

// Config says which account to send from and where SendGrid is.
type Config struct {
	APIKey string
	// APIURL is empty for SendGrid itself, or a stand-in's base URL.
	APIURL string
	From   string
	// FromName is the sender's name; empty, it is Name's answer (the
	// union's name as the admin set it), read at each send.
	FromName string
	Name     func() string
	Timeout  time.Duration
	// TracerProvider makes a client span of each API call; nil traces
	// nothing.
	TracerProvider trace.TracerProvider
}

// Client sends mail.
type Client struct {
	cfg  Config
	host string
	rest *rest.Client
}

// NewClient builds a client with its own HTTP client: sendgrid-go's
// default one has no timeout.
func NewClient(cfg Config) *Client {
	host := cfg.APIURL
	if host == "" {
		host = "https://api.sendgrid.com"
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 64
	var rt http.RoundTripper = transport
	if cfg.TracerProvider != nil {
		rt = otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(cfg.TracerProvider), otelhttp.WithPropagators(tracing.Propagator()),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return "sendgrid mail send" }))
	}
	return &Client{cfg: cfg, host: strings.TrimRight(host, "/"), rest: &rest.Client{HTTPClient: &http.Client{Timeout: timeout, Transport: rt}}}
}

// The batch a mail/send carries is delivery's provider-neutral one; this
// package writes it as SendGrid's JSON (body.go): each recipient a
// personalization, their substitutions SendGrid's substitutions, which
// SendGrid applies to the subject, both content parts and the reply_to.
type (
	Batch      = provider.EmailBatch
	Recipient  = provider.EmailRecipient
	Field      = provider.Field
	Attachment = provider.EmailAttachment
)

// fromName is the configured sender's name, else the union's.
func (c *Client) fromName() string {
	if c.cfg.FromName == "" && c.cfg.Name != nil {
		return c.cfg.Name()
	}
	return c.cfg.FromName
}

// Send posts one batch and returns SendGrid's X-Message-Id. Failures are
// *provider.SendError values. sendgrid-go returns a nil error for 4xx and
// 5xx answers, so the status code is what decides.
func (c *Client) Send(ctx context.Context, b Batch) (string, error) {
	if n := len(b.Recipients); n == 0 || n > MaxPersonalizations {
		return "", &provider.SendError{Kind: provider.Permanent, Err: fmt.Errorf("a batch holds 1 to %d recipients, not %d", MaxPersonalizations, n)}
	}
	req := sg.GetRequest(c.cfg.APIKey, "/v3/mail/send", c.host)
	req.Method = rest.Post
	req.Body = body(c.fromName(), c.cfg.From, b)
	resp, err := c.rest.SendWithContext(ctx, req)
	if err != nil {
		return "", provider.FromTransport(err)
	}
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		return firstHeader(resp.Headers, "X-Message-Id"), nil
	}
	return "", classifyStatus(resp.StatusCode, resp.Body)
}

// refusedPersonalizations reads a 400 answer's errors: when every one
// names a personalization ("personalizations.2.to.0.email"), those
// positions, in order and once each; otherwise none (the request as a
// whole is at fault).
func refusedPersonalizations(answer string) []int {
	var body struct {
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	}
	if json.Unmarshal([]byte(answer), &body) != nil || len(body.Errors) == 0 {
		return nil
	}
	var out []int
	for _, e := range body.Errors {
		rest, ok := strings.CutPrefix(e.Field, "personalizations.")
		n, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 {
			return nil
		}
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

func firstHeader(h map[string][]string, key string) string {
	for k, v := range h {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func classifyStatus(code int, answer string) error {
	err := fmt.Errorf("sendgrid answered %d: %.300s", code, answer)
	c := strconv.Itoa(code)
	switch {
	case code == http.StatusTooManyRequests:
		return &provider.SendError{Kind: provider.Retryable, Code: c, Err: err}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		// A wrong or revoked key, or one without the mail.send scope.
		return &provider.SendError{Kind: provider.Unauthorized, Code: c, Err: err}
	case code >= 500:
		return &provider.SendError{Kind: provider.Ambiguous, Code: c, Err: err}
	case code == http.StatusBadRequest:
		if idx := refusedPersonalizations(answer); len(idx) > 0 {
			return &provider.RefusedRecipients{Index: idx, Code: c, Err: &provider.SendError{Kind: provider.Permanent, Code: c, Err: err}}
		}
		return &provider.SendError{Kind: provider.Permanent, Code: c, Err: err}
	default:
		return &provider.SendError{Kind: provider.Permanent, Code: c, Err: err}
	}
}
