package svcauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Route names one route as chi knows it: a method and a pattern.
type Route struct {
	Method  string
	Pattern string
}

func (r Route) String() string { return r.Method + " " + r.Pattern }

// Guard stands in front of a service's API: every request needs a valid
// service token, except those for the routes a service lists as public.
// What a caller is refused for goes to the log, once; the caller hears
// only that it was refused.
type Guard struct {
	verifier *Verifier
	// metrics is the SHA-256 of the scrape token, when one is set.
	metrics []byte
	log     *zap.Logger
}

// NewGuard checks tokens with v.
func NewGuard(v *Verifier, log *zap.Logger) *Guard {
	return &Guard{verifier: v, log: log}
}

// WithMetricsToken lets a scraper that sends token as a bearer token read
// /metrics (and nothing else): Prometheus cannot sign service tokens.
// Empty leaves /metrics to service tokens alone.
func (g *Guard) WithMetricsToken(token string) *Guard {
	c := *g
	c.metrics = nil
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c.metrics = sum[:]
	}
	return &c
}

// Protect puts routes behind the guard. A request is let through without
// a token only when routes would serve it with a route in public, so a
// route added later is closed until someone lists it. The result is a
// chi.Routes too, so it can be mounted and walked like the routes it
// guards.
func (g *Guard) Protect(routes Routes, public []Route) *Protected {
	open := make(map[Route]bool, len(public))
	for _, r := range public {
		open[r] = true
	}
	return &Protected{inner: routes, guard: g, public: open}
}

// Metrics puts the metrics handler behind the guard: a service token or
// the scrape token.
func (g *Guard) Metrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if ok && g.metrics != nil {
			sum := sha256.Sum256([]byte(token))
			if subtle.ConstantTimeCompare(sum[:], g.metrics) == 1 {
				next.ServeHTTP(w, r)
				return
			}
		}
		g.serve(next, w, r, "/metrics")
	})
}

// serve admits r to next when it carries a valid token, with the caller
// in its context, and refuses it otherwise.
func (g *Guard) serve(next http.Handler, w http.ResponseWriter, r *http.Request, route string) {
	token, _ := bearer(r)
	caller, err := g.verifier.Verify(token)
	if err != nil {
		msg := "service credentials not accepted"
		if errors.Is(err, ErrNoToken) {
			msg = "service credentials required"
		}
		g.log.Warn("call refused", zap.String("method", r.Method), zap.String("route", route),
			zap.String("remote", r.RemoteAddr), zap.Error(err))
		web.WriteError(w, r, g.log, apperr.Unauthorized("%s", msg))
		return
	}
	if ce := g.log.Check(zap.DebugLevel, "call"); ce != nil {
		ce.Write(zap.String("caller", caller), zap.String("method", r.Method), zap.String("route", route))
	}
	next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
}

// bearer reads the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Routes are what a guard protects: a router it can ask which route a
// request would take, and pass the request to. A *chi.Mux is one.
type Routes interface {
	http.Handler
	chi.Routes
}

// Protected is a service's routes behind a guard. It answers chi's
// questions about routes as the routes it guards do, so a parent router
// mounts it as a subrouter and chi.Walk sees every route through it.
type Protected struct {
	inner  Routes
	guard  *Guard
	public map[Route]bool
}

// Routes are the guarded routes, for chi.Walk.
func (p *Protected) Routes() []chi.Route { return p.inner.Routes() }

// Middlewares are the guarded router's middlewares.
func (p *Protected) Middlewares() chi.Middlewares { return p.inner.Middlewares() }

// Match reports whether the guarded routes have a route for method and path.
func (p *Protected) Match(rctx *chi.Context, method, path string) bool {
	return p.inner.Match(rctx, method, path)
}

// Find is the pattern of the guarded route for method and path.
func (p *Protected) Find(rctx *chi.Context, method, path string) string {
	return p.inner.Find(rctx, method, path)
}

// ServeHTTP lets a request for a public route through and puts every other
// behind the guard, unmatched paths included: a caller without
// credentials learns nothing of which routes exist.
func (p *Protected) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pattern := p.Find(chi.NewRouteContext(), r.Method, routePath(r))
	if pattern != "" && p.public[Route{Method: r.Method, Pattern: pattern}] {
		p.inner.ServeHTTP(w, r)
		return
	}
	route := pattern
	if route == "" {
		route = "unmatched"
	}
	p.guard.serve(p.inner, w, r, route)
}

// routePath is the path chi will route r by: what a parent router left of
// it when the routes are mounted, else the escaped path when there is one.
// It must be the same path, or a request could be judged by one route and
// served by another.
func routePath(r *http.Request) string {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
		return rctx.RoutePath
	}
	if r.URL.RawPath != "" {
		return r.URL.RawPath
	}
	if r.URL.Path == "" {
		return "/"
	}
	return r.URL.Path
}

type callerKey struct{}

// WithCaller is ctx for a request made by caller.
func WithCaller(ctx context.Context, caller string) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// Caller is the service that made the request ctx belongs to, as its token
// proved; empty for a public route.
func Caller(ctx context.Context) string {
	s, _ := ctx.Value(callerKey{}).(string)
	return s
}
