// Package tracing builds a service's OpenTelemetry tracer provider from
// its configuration and carries trace context where HTTP instrumentation
// does not: NATS message headers, and a trace remembered in a database
// row (traceparent strings). Nothing here is global: each app is given its
// provider, and a nil provider means tracing is off.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"
)

// Config is what a service reads to trace: where spans go and how many
// traces are kept.
type Config struct {
	// Endpoint is the OTLP/HTTP collector's URL (http://host:4318, the
	// path /v1/traces added when missing); empty turns tracing off.
	Endpoint string
	// SampleRatio is the share of new traces kept, 0 to 1; a trace begun
	// elsewhere follows its parent's decision.
	SampleRatio float64
}

// Provider is a running tracer provider and how to flush and stop it.
type Provider struct {
	// TracerProvider is nil when tracing is off: apps then add no
	// tracing middleware at all.
	TracerProvider trace.TracerProvider
	shutdown       func(context.Context) error
}

// Shutdown flushes the spans still buffered and stops the exporter,
// giving up after five seconds: a collector that is down must not hold
// the process.
func (p Provider) Shutdown(ctx context.Context) error {
	if p.shutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := p.shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}

// New builds the provider for service from cfg: off (nil) without an
// endpoint, else batching spans to the OTLP/HTTP endpoint, sampling new
// traces at cfg.SampleRatio and following parents' decisions.
func New(ctx context.Context, service string, cfg Config) (Provider, error) {
	if cfg.Endpoint == "" {
		return Provider{}, nil
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return Provider{}, fmt.Errorf("trace sample ratio %v is not between 0 and 1", cfg.SampleRatio)
	}
	endpoint := cfg.Endpoint
	if !strings.Contains(strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://"), "/") {
		endpoint = strings.TrimRight(endpoint, "/") + "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return Provider{}, fmt.Errorf("building the otlp exporter for %s: %w", endpoint, err)
	}
	tp := NewSDK(service, cfg.SampleRatio, sdktrace.WithBatcher(exp))
	return Provider{TracerProvider: tp, shutdown: tp.Shutdown}, nil
}

// NewSDK is an SDK provider for service sampling new traces at ratio
// (parent-based), with the span processors opts add: New's, or a test's
// in-memory exporter.
func NewSDK(service string, ratio float64, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	res := resource.NewSchemaless(attribute.String("service.name", service))
	opts = append([]sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	}, opts...)
	return sdktrace.NewTracerProvider(opts...)
}

// OrNoop is tp, or a no-op provider when tracing is off.
func OrNoop(tp trace.TracerProvider) trace.TracerProvider {
	if tp == nil {
		return noop.NewTracerProvider()
	}
	return tp
}

// Propagator is the wire format of trace context between Muster's
// services: W3C traceparent and tracestate. It is a format, not state.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// Inject writes the trace context of ctx into a NATS message's header,
// making the header when it is nil. It writes nothing when ctx has no
// span.
func Inject(ctx context.Context, msg *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	Propagator().Inject(ctx, headerCarrier(msg.Header))
}

// Extract returns ctx with the remote span context a NATS header carries,
// if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return Propagator().Extract(ctx, headerCarrier(h))
}

// headerCarrier reads and writes NATS headers under the exact keys given
// (traceparent, lowercase as W3C writes it): NATS headers are
// case-sensitive, unlike HTTP's.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c headerCarrier) Set(key, value string) { c[key] = []string{value} }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Traceparent is the W3C traceparent of the span in ctx, to remember in
// a row; "" when ctx has no sampled span (nothing worth continuing).
func Traceparent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	c := propagation.MapCarrier{}
	Propagator().Inject(ctx, c)
	return c["traceparent"]
}

// FromTraceparent is ctx with the remembered traceparent as its remote
// parent; ctx unchanged when tp is empty or malformed.
func FromTraceparent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return Propagator().Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// ID is the trace id of ctx as a log field, or a field that writes
// nothing when ctx is not traced: log lines written while handling a
// traced request or message carry trace_id.
func ID(ctx context.Context) zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return zap.Skip()
	}
	return zap.String("trace_id", sc.TraceID().String())
}

// WithoutQuery is a transport, for inside otelhttp's, that records a
// request's URL on its client span without the query, which can hold a
// search for a member's name or number.
func WithoutQuery(next http.RoundTripper) http.RoundTripper {
	return withoutQuery{next: next}
}

type withoutQuery struct{ next http.RoundTripper }

func (t withoutQuery) RoundTrip(r *http.Request) (*http.Response, error) {
	if span := trace.SpanFromContext(r.Context()); span.IsRecording() {
		u := url.URL{Scheme: r.URL.Scheme, Host: r.URL.Host, Path: r.URL.Path}
		span.SetAttributes(attribute.String("url.full", u.String()))
	}
	return t.next.RoundTrip(r)
}
