// Package twilio sends SMS through Twilio with the official twilio-go
// client and receives Twilio's webhooks. It is the only package that knows
// Twilio's error codes and wire format.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/segmentio/encoding/json"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/shared/tracing"
)

// Name labels Twilio in metrics, logs and evidence.
const Name = "twilio"

// Config says which Twilio account to send from and where Twilio is.
type Config struct {
	AccountSID string
	AuthToken  string
	// APIURL is empty for Twilio itself; otherwise the base URL of a
	// stand-in that speaks Twilio's API (the simulator, a test server).
	APIURL string
	// Timeout bounds one API call; past it the outcome is ambiguous.
	Timeout time.Duration
	// MaxConns bounds concurrent API calls: Twilio answers 429 (20429)
	// past an account's concurrency limit, 100 by default.
	MaxConns int
	// PublicURL is delivery's public base URL: each text asks Twilio to
	// post its status callbacks there (StatusCallbackURL). Empty asks
	// for none.
	PublicURL string
	// TracerProvider makes a client span of each API call, in the trace
	// of the context Send is given; nil traces nothing.
	TracerProvider trace.TracerProvider
}

// Client sends messages.
type Client struct {
	api       *openapi.ApiService
	publicURL string
	// messagesURL is the account's Messages resource at Twilio; a
	// stand-in is reached through rewriteHost.
	messagesURL string
	// base is the twilio-go client api uses; traced, each traced Send
	// copies it to carry its span (twilio-go passes no context on).
	base   *client.Client
	traced bool
}

// NewClient builds a client. twilio-go has no base-URL setting, so a
// stand-in is reached by rewriting each request's scheme and host.
func NewClient(cfg Config) (*Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxConnsPerHost = cfg.MaxConns
	if transport.MaxConnsPerHost <= 0 {
		transport.MaxConnsPerHost = 100
	}
	transport.MaxIdleConnsPerHost = transport.MaxConnsPerHost
	var rt http.RoundTripper = transport
	if cfg.APIURL != "" {
		base, err := url.Parse(cfg.APIURL)
		if err != nil || base.Host == "" {
			return nil, fmt.Errorf("parsing twilio api url %q: not an absolute url", cfg.APIURL)
		}
		rt = rewriteHost{base: base, next: transport}
	}
	if cfg.TracerProvider != nil {
		rt = otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(cfg.TracerProvider), otelhttp.WithPropagators(tracing.Propagator()),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return "twilio create message" }))
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c := &client.Client{
		Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: rt,
			Timeout:   timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	c.SetAccountSid(cfg.AccountSID)
	return &Client{
		api: openapi.NewApiServiceWithClient(c), publicURL: cfg.PublicURL, base: c, traced: cfg.TracerProvider != nil,
		messagesURL: "https://api.twilio.com/2010-04-01/Accounts/" + cfg.AccountSID + "/Messages.json",
	}, nil
}

// apiFor is the API service a Send with ctx calls through: the shared one,
// or, when ctx carries a span to continue, a copy whose requests carry it.
func (c *Client) apiFor(ctx context.Context) *openapi.ApiService {
	span := trace.SpanFromContext(ctx)
	if !c.traced || !span.SpanContext().IsValid() {
		return c.api
	}
	cc := *c.base
	hc := *cc.HTTPClient
	hc.Transport = withSpan{span: span, next: hc.Transport}
	cc.HTTPClient = &hc
	return openapi.NewApiServiceWithClient(&cc)
}

// withSpan puts span into each request's context (twilio-go makes its
// requests with context.Background), keeping the request's own deadline.
type withSpan struct {
	span trace.Span
	next http.RoundTripper
}

func (t withSpan) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.next.RoundTrip(r.WithContext(trace.ContextWithSpan(r.Context(), t.span)))
}

type rewriteHost struct {
	base *url.URL
	next http.RoundTripper
}

func (t rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return t.next.RoundTrip(r)
}

// Send hands one message to Twilio and returns its SID. ServiceID is a
// Messaging Service SID. Failures are *provider.SendError values.
//
// The request goes through twilio-go's request handler (credentials,
// user agent, Twilio's error answers as *client.TwilioRestError) with the
// fields its CreateMessage would send. Of Twilio's answer only the SID is
// read: CreateMessage decodes all of its thirty-odd fields with
// encoding/json, a tenth of delivery's CPU per text.
func (c *Client) Send(ctx context.Context, m provider.SMS) (string, error) {
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if m.ServiceID != "" {
		form.Set("MessagingServiceSid", m.ServiceID)
	} else {
		form.Set("From", m.From)
	}
	if c.publicURL != "" && m.MessageID != "" {
		form.Set("StatusCallback", StatusCallbackURL(c.publicURL, m.MessageID))
	}
	if m.Validity > 0 {
		// Twilio takes 1 to 36,000 seconds.
		form.Set("ValidityPeriod", strconv.Itoa(int(min(max(m.Validity, time.Second), 10*time.Hour).Seconds())))
	}
	// twilio-go's requests take no context; the HTTP client's timeout
	// bounds them, and ctx gives only its span (apiFor).
	headers := map[string]any{"Content-Type": "application/x-www-form-urlencoded"}
	resp, err := c.apiFor(ctx).RequestHandler().Post(c.messagesURL, form, headers, "")
	if err != nil {
		return "", classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", classify(fmt.Errorf("reading twilio's answer: %w", err))
	}
	var created struct {
		Sid string `json:"sid"`
	}
	if err := json.Unmarshal(body, &created); err != nil {
		return "", classify(fmt.Errorf("decoding twilio's answer: %w", err))
	}
	if created.Sid == "" {
		return "", &provider.SendError{Kind: provider.Ambiguous, Err: errors.New("twilio answered without a message sid")}
	}
	return created.Sid, nil
}

// Twilio error codes Muster acts on.
const (
	codeTooManyRequests = 20429
	codeUnsubscribed    = 21610
)

// unsubscribed is codeUnsubscribed as status callbacks carry it.
var unsubscribed = strconv.Itoa(codeUnsubscribed)

// permanentCodes are numbers or messages that can never succeed.
var permanentCodes = map[int]bool{
	21211: true, // invalid To number
	21214: true, // To number cannot be reached
	21408: true, // region not enabled
	21601: true, // To is not a mobile number
	21602: true, // body required
	21604: true, // To required
	21612: true, // cannot route to this number
	21614: true, // To is not a mobile number (landline)
	21617: true, // body too long
	21635: true, // To cannot be a landline
	30006: true, // landline or unreachable carrier
}

func classify(err error) error {
	var rest *client.TwilioRestError
	if errors.As(err, &rest) {
		code := strconv.Itoa(rest.Code)
		switch {
		case rest.Status == http.StatusUnauthorized || rest.Status == http.StatusForbidden:
			// Wrong credentials or a suspended account: checked first,
			// since Twilio's 20003 is not in any code table below.
			return &provider.SendError{Kind: provider.Unauthorized, Code: code, Err: err}
		case rest.Code == codeUnsubscribed:
			return &provider.SendError{Kind: provider.Stopped, Code: code, Err: err}
		case rest.Status == http.StatusTooManyRequests || rest.Code == codeTooManyRequests:
			return &provider.SendError{Kind: provider.Retryable, Code: code, Err: err}
		case rest.Status >= 500:
			return &provider.SendError{Kind: provider.Ambiguous, Code: code, Err: err}
		case permanentCodes[rest.Code] || rest.Status == http.StatusBadRequest:
			return &provider.SendError{Kind: provider.Permanent, Code: code, Err: err}
		default:
			return &provider.SendError{Kind: provider.Ambiguous, Code: code, Err: err}
		}
	}
	return provider.FromTransport(err)
}
