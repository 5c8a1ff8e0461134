package tracing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/musterhq/muster/shared/tracing"
)

func TestNATSHeaderRoundTrip(t *testing.T) {
	tp := tracing.NewSDK("test", 1)
	ctx, span := tp.Tracer("test").Start(context.Background(), "publish")
	defer span.End()
	msg := &nats.Msg{Subject: "x"}
	tracing.Inject(ctx, msg)
	if msg.Header.Get("traceparent") == "" {
		t.Fatal("no traceparent header written")
	}
	got := trace.SpanContextFromContext(tracing.Extract(context.Background(), msg.Header))
	want := span.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsSampled() || !got.IsRemote() {
		t.Errorf("extracted %v, want remote %v", got, want)
	}
}

func TestNoSpanNoHeader(t *testing.T) {
	msg := &nats.Msg{Subject: "x"}
	tracing.Inject(context.Background(), msg)
	if msg.Header != nil {
		t.Errorf("header %v written without a span", msg.Header)
	}
	if sc := trace.SpanContextFromContext(tracing.Extract(context.Background(), nats.Header{"traceparent": {"garbage"}})); sc.IsValid() {
		t.Errorf("a malformed traceparent gave %v", sc)
	}
}

func TestTraceparentRoundTrip(t *testing.T) {
	tp := tracing.NewSDK("test", 1)
	ctx, span := tp.Tracer("test").Start(context.Background(), "send")
	defer span.End()
	s := tracing.Traceparent(ctx)
	if s == "" {
		t.Fatal("no traceparent for a sampled span")
	}
	got := trace.SpanContextFromContext(tracing.FromTraceparent(context.Background(), s))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("traceparent %q read back as %v", s, got)
	}
	// Unsampled traces are not worth remembering.
	off := tracing.NewSDK("test", 0)
	ctx, unsampled := off.Tracer("test").Start(context.Background(), "send")
	defer unsampled.End()
	if s := tracing.Traceparent(ctx); s != "" {
		t.Errorf("unsampled span remembered as %q", s)
	}
}

func TestLogFieldCarriesTraceID(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	tp := tracing.NewSDK("test", 1)
	ctx, span := tp.Tracer("test").Start(context.Background(), "handle")
	defer span.End()
	log.Info("traced", tracing.ID(ctx))
	log.Info("untraced", tracing.ID(context.Background()))
	entries := logs.All()
	if got := entries[0].ContextMap()["trace_id"]; got != span.SpanContext().TraceID().String() {
		t.Errorf("trace_id = %v, want %s", got, span.SpanContext().TraceID())
	}
	if _, ok := entries[1].ContextMap()["trace_id"]; ok {
		t.Errorf("an untraced line has a trace_id")
	}
}

func TestOffWithoutEndpoint(t *testing.T) {
	p, err := tracing.New(context.Background(), "test", tracing.Config{SampleRatio: 1})
	if err != nil || p.TracerProvider != nil {
		t.Fatalf("no endpoint gave %v, %v; want tracing off", p.TracerProvider, err)
	}
	if _, err := tracing.New(context.Background(), "test", tracing.Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: 2}); err == nil {
		t.Error("a sample ratio of 2 was accepted")
	}
	p, err = tracing.New(context.Background(), "test", tracing.Config{Endpoint: "http://127.0.0.1:4318", SampleRatio: 0.5})
	if err != nil || p.TracerProvider == nil {
		t.Fatalf("endpoint set gave %v, %v; want a provider", p.TracerProvider, err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Errorf("shutting down with no span sent: %v", err)
	}
}

func TestClientSpanDropsTheQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(srv.Close)
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewSDK("test", 1, sdktrace.WithSyncer(exp))
	client := &http.Client{Transport: otelhttp.NewTransport(tracing.WithoutQuery(http.DefaultTransport), otelhttp.WithTracerProvider(tp))}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/contacts?q=%2B12125550101", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	parent.End()
	for _, s := range exp.GetSpans() {
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "12125550101") {
				t.Errorf("span %q records %s = %s", s.Name, a.Key, a.Value.String())
			}
			if a.Key == "url.full" && a.Value.AsString() != srv.URL+"/contacts" {
				t.Errorf("url.full = %s, want the URL without its query", a.Value.AsString())
			}
		}
	}
}
