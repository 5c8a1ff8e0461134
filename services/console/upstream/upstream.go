// Package upstream is the console's client for the services' HTTP APIs.
// The console adds no business rules: it forwards what organizers ask for
// and passes the services' own errors (invalid, not found, conflict) back
// with their kind, so the UI and the API show what the service said.
// Every request carries the console's service token for the service it
// calls (package svcauth): the services trust no one else by default.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/tracing"
	"github.com/musterhq/muster/shared/web"
)

// Client calls one service.
type Client struct {
	name string
	base string
	hc   *http.Client
	// stream has no overall timeout, for server-sent events, uploads and
	// CSV downloads, which take as long as they take; the caller's request
	// context ends them.
	stream *http.Client
}

// New makes a client for the service called name at base, signing each
// request with signer for that service.
func New(name, base string, timeout time.Duration, signer *svcauth.Signer) *Client {
	return &Client{
		name:   name,
		base:   strings.TrimRight(base, "/"),
		hc:     &http.Client{Timeout: timeout, Transport: signer.Transport(name, nil)},
		stream: &http.Client{Transport: signer.Transport(name, nil)},
	}
}

// Traced makes a client span of each call with tp and sends the trace
// context along, so the service's spans join the console's trace; a nil
// tp leaves the client as it is.
func (c *Client) Traced(tp trace.TracerProvider) *Client {
	if tp == nil {
		return c
	}
	wrap := func(rt http.RoundTripper) http.RoundTripper {
		return otelhttp.NewTransport(tracing.WithoutQuery(rt), otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(tracing.Propagator()),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	c.hc.Transport, c.stream.Transport = wrap(c.hc.Transport), wrap(c.stream.Transport)
	return c
}

// URL is the service's base URL.
func (c *Client) URL() string { return c.base }

// JSON sends in (when not nil) as JSON and decodes a 2xx answer into out
// (when not nil). A service's error answer becomes an apperr of the same
// kind; a service that cannot be reached is unavailable.
func (c *Client) JSON(ctx context.Context, method, path string, in, out any) error {
	return c.JSONWithHeader(ctx, method, path, nil, in, out)
}

// JSONWithHeader is JSON with extra request headers (an Idempotency-Key);
// empty values are left out.
func (c *Client) JSONWithHeader(ctx context.Context, method, path string, header map[string]string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding %s request: %w", c.name, err)
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, method, path, header, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s %s: %w", c.name, method, path, err)
	}
	return nil
}

// Raw makes a request and returns a 2xx response for the caller to read
// and close; for uploads, CSV downloads and event streams. Other answers
// are turned into errors as JSON does.
func (c *Client) Raw(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	return c.do(ctx, method, path, nil, body, contentType)
}

func (c *Client) do(ctx context.Context, method, path string, header map[string]string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("building %s request: %w", c.name, err)
	}
	if body != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	hc := c.hc
	if strings.HasSuffix(path, "/stream") || method == http.MethodPost && strings.HasPrefix(path, "/imports") || isCSV(path) {
		hc = c.stream
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, apperr.Unavailable(err, "%s is not answering", c.name)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.errorOf(method, path, resp)
}

// isCSV reports whether path is a CSV download (.csv, or format=csv).
func isCSV(path string) bool {
	p, query, _ := strings.Cut(path, "?")
	return strings.HasSuffix(p, ".csv") || strings.Contains("&"+query+"&", "&format=csv&")
}

func (c *Client) errorOf(method, path string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb web.ErrorBody
	_ = json.Unmarshal(raw, &eb)
	msg := eb.Error
	if msg == "" {
		msg = strings.TrimSpace(string(raw))
	}
	switch {
	case resp.StatusCode == http.StatusBadRequest || eb.Kind == "invalid":
		if eb.Field != "" {
			msg = strings.TrimPrefix(msg, eb.Field+": ")
		}
		return apperr.Invalid(eb.Field, "%s", msg)
	case resp.StatusCode == http.StatusNotFound:
		return apperr.NotFound("%s", msg)
	case resp.StatusCode == http.StatusConflict:
		return apperr.Conflict("%s", msg)
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return apperr.TooLarge(eb.Field, "%s", strings.TrimPrefix(msg, eb.Field+": "))
	case resp.StatusCode == http.StatusServiceUnavailable:
		return apperr.Unavailable(errors.New(msg), "%s is unavailable", c.name)
	case resp.StatusCode == http.StatusUnauthorized:
		// The service does not trust the console: a deployment error (a
		// key not listed, or rotated away), not the organizer's. An
		// internal error, logged where it is handled, shown as such.
		return fmt.Errorf("%s refused the console's service credentials (check %s_TRUSTED_CALLERS and CONSOLE_SERVICE_KEY): %s",
			c.name, strings.ToUpper(c.name), msg)
	default:
		return fmt.Errorf("%s %s %s answered %d: %s", c.name, method, path, resp.StatusCode, msg)
	}
}

// Services are the three APIs the console calls.
type Services struct {
	Contacts  *Client
	Campaigns *Client
	Delivery  *Client
}
