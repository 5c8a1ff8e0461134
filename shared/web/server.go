package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/tracing"
)

// Check reports whether one dependency is usable; readiness runs them all.
type Check func(ctx context.Context) error

// Server is an HTTP server with /healthz (the process is alive), /readyz
// (every dependency answers) and /metrics (Prometheus) beside the service's
// own routes. It listens as soon as it is built so a test can ask for port 0
// and read the address back.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	log    *zap.Logger
	routes chi.Routes
}

// Option changes a server NewServer builds.
type Option func(*options)

type options struct {
	metricsGuard func(http.Handler) http.Handler
	tracer       trace.TracerProvider
	trusted      func(*http.Request) bool
	excludable   []string
}

// Excludable names the readiness checks a probe may leave out with
// /readyz?exclude=<check>. Any other name in exclude is ignored, so an
// outsider who reaches the port cannot find out, by excluding one check
// at a time, which dependency is down.
func Excludable(checks ...string) Option {
	return func(o *options) { o.excludable = append(o.excludable, checks...) }
}

// Tracing makes a span of each request with tp, named for its route
// pattern (POST /campaigns/{id}/launch). The trace context of a request
// trusted says is from a trusted caller is continued; any other request
// (the public edge: a member's browser, a provider's webhook) starts a
// trace of its own, linked to what it claimed, so no one outside can
// choose what is sampled or join our traces. A nil trusted trusts no
// one. Without Tracing, or with a nil tp, requests are not traced.
func Tracing(tp trace.TracerProvider, trusted func(*http.Request) bool) Option {
	return func(o *options) { o.tracer, o.trusted = tp, trusted }
}

// MetricsGuard puts /metrics behind guard. Without one /metrics refuses
// every request: metrics are internal, and a server that forgot its
// guard must not publish them.
func MetricsGuard(guard func(http.Handler) http.Handler) Option {
	return func(o *options) { o.metricsGuard = guard }
}

// NewServer listens on addr and mounts routes under the standard endpoints.
// /healthz and /readyz answer anyone (probes carry no credentials);
// routes must guard themselves.
func NewServer(addr string, routes http.Handler, reg *prometheus.Registry, checks map[string]Check, log *zap.Logger, opts ...Option) (*Server, error) {
	o := options{metricsGuard: func(http.Handler) http.Handler { return refuseMetrics{} }}
	for _, opt := range opts {
		opt(&o)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Use(metricsMiddleware(reg))
	if o.tracer != nil {
		r.Use(traceMiddleware(o.tracer, o.trusted))
	}
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", newReadiness(checks, o.excludable, log).ServeHTTP)
	r.Handle("/metrics", o.metricsGuard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	r.Mount("/", routes)
	return &Server{
		srv: &http.Server{
			Handler:           r,
			ReadHeaderTimeout: ReadHeaderTimeout,
			ReadTimeout:       ReadTimeout,
			WriteTimeout:      WriteTimeout, // streams and downloads extend theirs (KeepWriting)
			IdleTimeout:       IdleTimeout,
			ErrorLog:          zap.NewStdLog(log.Named("http")),
		},
		ln:     ln,
		log:    log,
		routes: r,
	}, nil
}

// refuseMetrics answers /metrics on a server given no guard for it.
type refuseMetrics struct{}

func (refuseMetrics) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	WriteJSON(w, http.StatusUnauthorized, ErrorBody{Error: "metrics need credentials", Kind: apperr.KindUnauthorized.String()})
}

// Routes is every route the server answers, the standard endpoints
// included, for tests that walk them (chi.Walk).
func (s *Server) Routes() chi.Routes { return s.routes }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the base URL of the server.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Serve blocks until the server is shut down. A shutdown is not an error.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http: %w", err)
	}
	return nil
}

// Shutdown stops taking requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutting down http: %w", err)
	}
	return nil
}

// readiness answers /readyz. Anyone who can reach the port may ask, so
// the answer says only ready or not, in a fixed body: which dependency
// failed, and why, goes to the log. A failing check is logged once when it
// starts failing and once when it recovers, not on every probe.
//
// /readyz?exclude=<check> (repeatable, as Kubernetes' own API server
// reads it) leaves a check out of the answer, for a probe that must not
// act on it: delivery is not ready while a provider refuses its
// credentials, yet its load balancer must keep routing members' STOPs to
// it. Only checks the server was told are excludable can be left out
// (see Excludable); an excluded check still runs and is still logged.
type readiness struct {
	checks     map[string]Check
	excludable []string
	log        *zap.Logger

	mu      sync.Mutex
	failing map[string]bool
}

func newReadiness(checks map[string]Check, excludable []string, log *zap.Logger) *readiness {
	return &readiness{checks: checks, excludable: excludable, log: log, failing: make(map[string]bool, len(checks))}
}

// The two answers /readyz gives.
var (
	readyBody    = map[string]string{"status": "ok"}
	notReadyBody = ErrorBody{Error: "not ready", Kind: apperr.KindUnavailable.String()}
)

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	excluded := r.URL.Query()["exclude"]
	ready := true
	for name, check := range rd.checks {
		err := check(ctx)
		rd.note(name, err)
		if err != nil && !(slices.Contains(excluded, name) && slices.Contains(rd.excludable, name)) {
			ready = false
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		WriteJSON(w, http.StatusServiceUnavailable, notReadyBody)
		return
	}
	WriteJSON(w, http.StatusOK, readyBody)
}

// note logs a check's change of state.
func (rd *readiness) note(name string, err error) {
	rd.mu.Lock()
	was := rd.failing[name]
	rd.failing[name] = err != nil
	rd.mu.Unlock()
	switch {
	case err != nil && !was:
		rd.log.Warn("not ready: a dependency check failed", zap.String("check", name), zap.Error(err))
	case err == nil && was:
		rd.log.Info("dependency check passes again", zap.String("check", name))
	}
}

// traceMiddleware starts a server span per request (otelhttp) and names it
// for the route chi matched, once it has: otelhttp names the span again
// when the handler returns.
func traceMiddleware(tp trace.TracerProvider, trusted func(*http.Request) bool) func(http.Handler) http.Handler {
	public := func(r *http.Request) bool { return trusted == nil || !trusted(r) }
	return func(next http.Handler) http.Handler {
		routed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if route := routePattern(r); route != "" {
				// The pattern replaces the path, which can hold a secret
				// (a preferences link's sealed token).
				trace.SpanFromContext(r.Context()).SetAttributes(attribute.String("http.route", route), attribute.String("url.path", route))
			}
		})
		return otelhttp.NewHandler(routed, "http", otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(tracing.Propagator()),
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), otelhttp.WithPublicEndpointFn(public),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				if route := routePattern(r); route != "" {
					return r.Method + " " + route
				}
				return r.Method
			}))
	}
}

// routePattern is the pattern chi matched for r so far ("" before routing).
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		return rc.RoutePattern()
	}
	return ""
}

func metricsMiddleware(reg *prometheus.Registry) func(http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_requests_total",
		Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "HTTP request latency by route pattern.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	reg.MustRegister(requests, latency)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			route := "unmatched"
			if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
				route = rc.RoutePattern()
			}
			requests.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Inc()
			latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		})
	}
}
