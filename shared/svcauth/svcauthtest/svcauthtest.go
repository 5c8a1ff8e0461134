// Package svcauthtest is the test side of service authentication: a caller
// identity for tests ("test") that a service under test is told to trust,
// and Audit, the security table every service runs over its own router.
package svcauthtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// Caller is the name the test identity signs as.
const Caller = "test"

// testKey is made once per test binary, at random: no private key a
// deployment could be tricked into trusting is written down anywhere. The
// fault suite passes its public half to the service binaries it starts.
var testKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("generating the test caller's key: %v", err))
	}
	return key
})

// Trusted is the TRUSTED_CALLERS entry that makes a service accept the
// test caller.
func Trusted() string { return Caller + "=" + svcauth.PublicKey(testKey()) }

// Signer makes the test caller's tokens, dated by the machine's clock: the
// clock services judge tokens by, whatever a test does to their domain
// clock.
func Signer() *svcauth.Signer {
	s, err := svcauth.NewSigner(Caller, testKey(), time.Now)
	if err != nil {
		panic(err) // the name and key are fixed above
	}
	return s
}

// Client is an HTTP client that calls the service named audience as the
// test caller.
func Client(audience string) *http.Client {
	return &http.Client{Transport: Signer().Transport(audience, nil)}
}

// Metrics checks that the service at base serves its metrics to the test
// caller; it returns the problem, or "" when there is none.
func Metrics(base, audience string) string {
	resp, err := Client(audience).Get(base + "/metrics")
	if err != nil {
		return fmt.Sprintf("GET /metrics: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "http_requests_total") {
		return fmt.Sprintf("GET /metrics with a service token = %d", resp.StatusCode)
	}
	return ""
}

// Authorize adds a test caller's token for audience to r.
func Authorize(r *http.Request, audience string) {
	if err := Signer().Authorize(r, audience); err != nil {
		panic(err) // signing with a good key does not fail
	}
}

// Probes are the routes every service answers without credentials: the
// liveness and readiness probes, which say nothing but ok or not.
func Probes() []svcauth.Route {
	return []svcauth.Route{{Method: "GET", Pattern: "/healthz"}, {Method: "GET", Pattern: "/readyz"}}
}

// refusal is one way of calling without valid credentials.
type refusal struct {
	name   string
	header func() string
}

// refusals are the calls every closed route must refuse with 401.
func refusals(audience string) []refusal {
	now := time.Now()
	sign := func(name string, key ed25519.PrivateKey, at time.Time, aud string) func() string {
		return func() string {
			s, err := svcauth.NewSigner(name, key, func() time.Time { return at })
			if err != nil {
				panic(err)
			}
			tok, err := s.Token(aud)
			if err != nil {
				panic(err)
			}
			return "Bearer " + tok
		}
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	return []refusal{
		{"no credentials", func() string { return "" }},
		{"not a bearer token", func() string { return "Basic dGVzdDp0ZXN0" }},
		{"malformed token", func() string { return "Bearer not.a.token" }},
		{"wrong audience", sign(Caller, testKey(), now, "not-"+audience)},
		{"expired", sign(Caller, testKey(), now.Add(-svcauth.TTL-svcauth.Leeway-time.Minute), audience)},
		{"untrusted issuer", sign("intruder", stranger, now, audience)},
		{"bad signature", sign(Caller, stranger, now, audience)},
		{"tampered", func() string {
			h := []byte(sign(Caller, testKey(), now, audience)())
			// One character in the middle of the signature changed (the
			// last one carries padding bits).
			i := strings.LastIndexByte(string(h), '.') + 20
			if h[i] == 'A' {
				h[i] = 'B'
			} else {
				h[i] = 'A'
			}
			return string(h)
		}},
	}
}

// param is a path parameter in a chi pattern: {id}, {token:[a-z]+}.
var param = regexp.MustCompile(`\{[^}]+\}`)

// Audit calls every route of a running service at base, as routes (the
// service's whole router, from chi.Walk) lists them, and returns what is
// wrong: a route not in open that answers anything but 401 in the JSON
// error shape to a call without valid credentials (none, not a bearer
// token, malformed, for another service, expired, from an untrusted
// caller, with a bad or tampered signature); a route that refuses a valid
// token; an open route that refuses a call without credentials; an open
// route the router does not have. Because the list of routes comes from
// the router, a route added without protection fails the audit.
func Audit(base string, routes chi.Routes, open []svcauth.Route, audience string) []string {
	var problems []string
	isOpen := map[svcauth.Route]bool{}
	for _, r := range open {
		isOpen[r] = true
	}
	var found []svcauth.Route
	err := chi.Walk(routes, func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		found = append(found, svcauth.Route{Method: method, Pattern: pattern})
		return nil
	})
	if err != nil {
		return []string{fmt.Sprintf("walking the router: %v", err)}
	}
	if len(found) == 0 {
		return []string{"the router has no routes"}
	}
	slices.SortFunc(found, func(a, b svcauth.Route) int { return strings.Compare(a.String(), b.String()) })
	for _, r := range open {
		if !slices.Contains(found, r) {
			problems = append(problems, fmt.Sprintf("%s is listed as open but the router has no such route", r))
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tokens := Signer()
	cases := refusals(audience)
	for _, r := range found {
		// CONNECT is the proxy verb: Go's client does not send a path
		// with it, so it cannot reach a route.
		if r.Method == http.MethodConnect {
			continue
		}
		url := base + param.ReplaceAllString(strings.TrimSuffix(r.Pattern, "*"), "00000000-0000-0000-0000-000000000000")
		if isOpen[r] {
			if code, _, _, err := call(hc, r.Method, url, ""); err != nil || code == http.StatusUnauthorized {
				problems = append(problems, fmt.Sprintf("%s is open but refused a call without credentials: %d %v", r, code, err))
			}
			continue
		}
		for _, c := range cases {
			code, typ, body, err := call(hc, r.Method, url, c.header())
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("%s with %s: %v", r, c.name, err))
			case code != http.StatusUnauthorized:
				problems = append(problems, fmt.Sprintf("%s with %s answered %d, want 401: the route is not protected", r, c.name, code))
			case r.Method != http.MethodHead && (typ != "application/json" || !isUnauthorizedJSON(body)):
				problems = append(problems, fmt.Sprintf("%s with %s: 401 %s %q is not the JSON error shape", r, c.name, typ, body))
			}
		}
		req, _ := http.NewRequest(r.Method, url, nil)
		if err := tokens.Authorize(req, audience); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if code, _, body, err := do(hc, req); err != nil || code == http.StatusUnauthorized || code == http.StatusForbidden {
			problems = append(problems, fmt.Sprintf("%s refused a valid token: %d %s %v", r, code, body, err))
		}
	}
	// A path no route serves is closed too: the router's shape is not for
	// strangers to map.
	if code, _, _, err := call(hc, "GET", base+"/no-such-route", ""); err != nil || code != http.StatusUnauthorized {
		problems = append(problems, fmt.Sprintf("an unknown path answered %d %v without credentials, want 401", code, err))
	}
	return problems
}

func call(hc *http.Client, method, url, auth string) (int, string, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", "", err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return do(hc, req)
}

// do sends req and returns the status, the content type and a little of
// the body: enough for an error, without waiting on an event stream.
func do(hc *http.Client, req *http.Request) (int, string, string, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	typ := resp.Header.Get("Content-Type")
	if strings.HasPrefix(typ, "text/event-stream") {
		return resp.StatusCode, typ, "", nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, typ, string(body), nil
}

func isUnauthorizedJSON(body string) bool {
	var eb web.ErrorBody
	return json.Unmarshal([]byte(body), &eb) == nil && eb.Kind == "unauthorized" && eb.Error != ""
}
