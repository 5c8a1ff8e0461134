// Package twilio sends SMS through Twilio with the official twilio-go
// client and receives Twilio's webhooks. It is the only package that knows
// Twilio's error codes and wire format.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/musterhq/muster/services/delivery/provider"
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
}

// Client sends messages.
type Client struct {
	api       *openapi.ApiService
	publicURL string
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
	return &Client{api: openapi.NewApiServiceWithClient(c), publicURL: cfg.PublicURL}, nil
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
func (c *Client) Send(_ context.Context, m provider.SMS) (string, error) {
	p := &openapi.CreateMessageParams{}
	p.SetTo(m.To).SetBody(m.Body)
	if m.ServiceID != "" {
		p.SetMessagingServiceSid(m.ServiceID)
	} else {
		p.SetFrom(m.From)
	}
	if c.publicURL != "" && m.MessageID != "" {
		p.SetStatusCallback(StatusCallbackURL(c.publicURL, m.MessageID))
	}
	if m.Validity > 0 {
		// Twilio takes 1 to 36,000 seconds.
		p.SetValidityPeriod(int(min(max(m.Validity, time.Second), 10*time.Hour).Seconds()))
	}
	// twilio-go's CreateMessage takes no context; the HTTP client's
	// timeout bounds it.
	msg, err := c.api.CreateMessage(p)
	if err != nil {
		return "", classify(err)
	}
	if msg.Sid == nil {
		return "", &provider.SendError{Kind: provider.Ambiguous, Err: errors.New("twilio answered without a message sid")}
	}
	return *msg.Sid, nil
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
