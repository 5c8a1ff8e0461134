package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/server"
)

// public reports the console routes anyone may call: signing in, the
// assets (any method: they only serve files) and the API's description;
// asking for a password reset (the same answer for every email, limited
// like sign-in) and setting a password from an emailed link (its
// single-use, expiring token is the proof), both behind the sign-in
// form's double-submit CSRF cookie. Every other route must refuse a
// caller without a session or token.
func public(route string) bool {
	switch route {
	case "GET /signin", "POST /signin", "GET /api/openapi.json", "HEAD /signin", "HEAD /api/openapi.json",
		"GET /account/forgot", "POST /account/forgot", "HEAD /account/forgot",
		"GET /account/set-password", "POST /account/set-password", "HEAD /account/set-password":
		return true
	}
	return strings.HasSuffix(route, " /static/*")
}

// viewerWrites are the writes a viewer may make: their own sign-out and
// password.
var viewerWrites = map[string]bool{"POST /signout": true, "POST /account/password": true}

// consoleRoutes lists every route of the console's router, so a route
// added without protection fails the tests below.
func consoleRoutes(t *testing.T) []string {
	t.Helper()
	srv, err := server.New(server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	routes, ok := srv.Routes().(chi.Routes)
	if !ok {
		t.Fatal("the console's handler is not a chi router")
	}
	var out []string
	if err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+strings.ReplaceAll(route, "/*/", "/"))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("walked only %d routes: %v", len(out), out)
	}
	return out
}

// concrete fills a route's parameters.
func concrete(route string) string {
	r := strings.NewReplacer("{id}", "c1", "*", "x")
	return r.Replace(route)
}

// refused reports whether an answer turns the caller away: 401 or 403,
// or a redirect to sign in.
func refused(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusSeeOther, http.StatusFound:
		return strings.HasPrefix(resp.Header.Get("Location"), "/signin")
	}
	return false
}

func TestEveryConsoleRouteRefusesAnonymousCallers(t *testing.T) {
	c := startConsole(t, 1000)
	anon := newBrowser(t, c.URL())
	for _, rt := range consoleRoutes(t) {
		if public(rt) {
			continue
		}
		method, path, _ := strings.Cut(rt, " ")
		resp, body := anon.do(method, concrete(path), url.Values{}, nil)
		if !refused(resp) {
			t.Errorf("%s without a session = %d (%s), want it refused", rt, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.HasPrefix(path, "/api/") && (resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"kind"`)) {
			t.Errorf("%s without credentials = %d %s, want 401 in the JSON error shape", rt, resp.StatusCode, body)
		}
	}
}

func TestViewersCannotWrite(t *testing.T) {
	c := startConsole(t, 1000)
	admin := signedIn(t, c)
	viewer := firstSignIn(t, c, "viewer@muster.test", invite(t, admin, "viewer@muster.test", "viewer"))
	for _, rt := range consoleRoutes(t) {
		method, path, _ := strings.Cut(rt, " ")
		if public(rt) || viewerWrites[rt] || method == http.MethodGet || method == http.MethodHead {
			continue
		}
		header := map[string]string{"X-CSRF-Token": viewer.csrf}
		resp, _ := viewer.do(method, concrete(path), url.Values{"csrf": {viewer.csrf}}, header)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s as a viewer = %d, want 403", rt, resp.StatusCode)
		}
	}
	// Admin pages are not for viewers to read either.
	for _, rt := range consoleRoutes(t) {
		method, path, _ := strings.Cut(rt, " ")
		if method == http.MethodGet && (strings.HasPrefix(path, "/admin/") || strings.HasPrefix(path, "/api/organizers") || strings.HasPrefix(path, "/api/tokens")) {
			if resp, _ := viewer.do(method, concrete(path), nil, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s as a viewer = %d, want 403", rt, resp.StatusCode)
			}
		}
	}
}

// stewardRoutes are every route a steward may call: their members, their
// conversations, answering them, and their own account. A route added to
// the console is closed to stewards unless it is named here.
var stewardRoutes = map[string]bool{
	"GET /": true, "GET /contacts": true, "GET /contacts/{id}": true, "GET /inbox": true,
	"POST /inbox/{id}/reply": true, "POST /inbox/{id}/handled": true, "POST /inbox/handled": true,
	"POST /signout": true, "GET /account": true, "POST /account/password": true,
	"GET /api/contacts": true, "GET /api/contacts/{id}": true, "GET /api/contacts/{id}/assignments": true,
	"GET /api/inbox/conversations": true, "GET /api/saved-replies": true, "GET /api/assignees": true,
	"GET /api/reply-deadline": true, "POST /api/inbox/{id}/reply": true, "POST /api/inbox/{id}/handled": true,
	"POST /api/inbox/handled": true,
}

func TestStewardsReachOnlyTheirRoutes(t *testing.T) {
	c := startConsole(t, 1000)
	admin := signedIn(t, c)
	steward := firstSignIn(t, c, "steward@muster.test", invite(t, admin, "steward@muster.test", "steward"))
	for _, rt := range consoleRoutes(t) {
		method, path, _ := strings.Cut(rt, " ")
		if public(rt) || method == http.MethodHead || rt == "POST /signout" {
			continue
		}
		header := map[string]string{"X-CSRF-Token": steward.csrf}
		resp, _ := steward.do(method, concrete(path), url.Values{"csrf": {steward.csrf}}, header)
		if stewardRoutes[rt] {
			if refused(resp) {
				t.Errorf("%s as a steward = %d, want it open to stewards", rt, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s as a steward = %d, want 403", rt, resp.StatusCode)
		}
	}
}
