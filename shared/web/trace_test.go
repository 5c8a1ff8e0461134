package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/musterhq/muster/shared/tracing"
	"github.com/musterhq/muster/shared/web"
)

// TestTracedServer: a request is a span named for its route pattern,
// continuing the caller's trace, and the failure it logs carries the
// trace id.
func TestTracedServer(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewSDK("test", 1, sdktrace.WithSyncer(exp))
	core, logs := observer.New(zap.InfoLevel)
	routes := chi.NewRouter()
	routes.Get("/campaigns/{id}", func(w http.ResponseWriter, r *http.Request) {
		web.WriteError(w, r, zap.New(core), errors.New("down"))
	})
	srv, err := web.NewServer("127.0.0.1:0", routes, prometheus.NewRegistry(), nil, zap.NewNop(), web.Tracing(tp, func(r *http.Request) bool { return r.Header.Get("X-Trusted") != "" }))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	get := func(trusted bool) (trace.Span, tracetest.SpanStub) {
		t.Helper()
		exp.Reset()
		ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL()+"/campaigns/42", nil)
		tracing.Propagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
		if trusted {
			req.Header.Set("X-Trusted", "yes")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		caller.End()
		var got []tracetest.SpanStub
		for _, s := range exp.GetSpans() {
			if s.SpanKind == trace.SpanKindServer {
				got = append(got, s)
			}
		}
		if len(got) != 1 || got[0].Name != "GET /campaigns/{id}" {
			t.Fatalf("server spans %v, want one named GET /campaigns/{id}", got)
		}
		for _, a := range got[0].Attributes {
			if a.Key == "url.path" && a.Value.AsString() != "/campaigns/{id}" {
				t.Errorf("url.path %q, want the route pattern (a path can hold a secret)", a.Value.AsString())
			}
		}
		return caller, got[0]
	}

	caller, server := get(true)
	if server.Parent.SpanID() != caller.SpanContext().SpanID() || server.SpanContext.TraceID() != caller.SpanContext().TraceID() {
		t.Errorf("a trusted caller's request: server span's parent %s, want the caller %s", server.Parent.SpanID(), caller.SpanContext().SpanID())
	}
	entries := logs.TakeAll()
	if len(entries) != 1 || entries[0].ContextMap()["trace_id"] != caller.SpanContext().TraceID().String() {
		t.Errorf("failure logged as %v, want it with trace_id %s", entries, caller.SpanContext().TraceID())
	}

	// From the public edge, the claimed context is only linked.
	caller, server = get(false)
	if server.Parent.IsValid() || server.SpanContext.TraceID() == caller.SpanContext().TraceID() {
		t.Errorf("a public request joined the trace it claimed (parent %s)", server.Parent.SpanID())
	}
	if len(server.Links) != 1 || server.Links[0].SpanContext.SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("a public request's span links %v, want the context it claimed", server.Links)
	}
}
