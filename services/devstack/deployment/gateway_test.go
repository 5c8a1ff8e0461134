package deployment

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/console/server"
	"github.com/musterhq/muster/services/delivery/prefs"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/unsubscribe"
)

const caddyfilePath = "../../../deployments/gateway/Caddyfile"

// upstream is a service behind the edge and its port.
type upstream struct{ service, port string }

// The public edge, from the code: the exact paths delivery serves to
// providers and members, the link prefixes campaigns serves to members,
// and (consoleRoutes) every route of the console's router.
var (
	deliveryEdge = []string{twilio.InboundPath, twilio.StatusPath, sendgrid.EventsPath, unsubscribe.Path}
	// deliveryPrefixes are delivery's public routes under a prefix: SendGrid's
	// Inbound Parse URL, whose last segment is a secret, and the
	// preferences page, /prefs/<token>.
	deliveryPrefixes = []string{sendgrid.InboundPrefix, prefs.Prefix}
	campaignsEdge    = []string{message.RSVPPath, message.SignPath}
	edgeUpstreams    = map[upstream]bool{{"delivery", "8083"}: true, {"campaigns", "8082"}: true, {"console", "8080"}: true}
)

// Paths that must never get past the gateway: the services' internal APIs
// and operations endpoints, the simulator, and tricks around the prefixes.
var internalPaths = []string{
	"/metrics", "/healthz", "/readyz", "/debug/pprof/", "/Metrics",
	"/messages", "/suppressions", "/settings/messaging", "/conversations",
	"/consent/export.csv", "/contacts/export.csv/../../metrics",
	"/sim/outbox", "/sim/reply",
	"/webhooks/twilio/other", "/webhooks/", "/unsubscribe/x", "/rsvp", "/sign", "/prefs",
	"/webhooks/sendgrid/inbound", "/webhooks/sendgrid/inbounds",
	"/rsvp/../metrics", "/api/../metrics", "//metrics", "/static/./../readyz",
}

// consoleRoutes is one sample path per route of the console's router,
// whose parameters and wildcards are filled in.
func consoleRoutes(t *testing.T) []string {
	t.Helper()
	s, err := server.New(server.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	routes, ok := s.Routes().(chi.Routes)
	if !ok {
		t.Fatalf("the console's handler is a %T, not a chi router", s.Routes())
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	seen := map[string]bool{}
	err = chi.Walk(routes, func(_ string, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		p := param.ReplaceAllString(route, "x")
		p = strings.TrimSuffix(p, "*") // "/static/*" is /static/<file>
		if strings.HasSuffix(p, "/") && p != "/" {
			p += "x"
		}
		seen[p] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	if len(out) < 10 {
		t.Fatalf("only %d console routes found: %v", len(out), out)
	}
	return out
}

// gateway is what the tests need of the Caddyfile: its one site's named
// matchers, header lines and handle blocks, in order.
type gateway struct {
	matchers map[string]caddyMatcher
	headers  []caddyLine
	handles  []caddyHandle
}

type caddyLine []string

type caddyMatcher struct {
	kind string
	args []string
}

// caddyHandle is one handle block: proxied to an upstream, or answered
// with a status.
type caddyHandle struct {
	matcher  string
	upstream upstream
	respond  string
}

// parseCaddyfile reads the subset of the Caddyfile this project writes: a
// global options block, the (replicas) snippet, and one site whose body
// is named matchers, header lines and handle blocks that import replicas
// or respond. Anything else is reported, so a new construct is added here
// before it can route around the checks.
func parseCaddyfile(text string) (gateway, []string) {
	g := gateway{matchers: map[string]caddyMatcher{}}
	var p []string
	var lines []caddyLine
	for raw := range strings.Lines(text) {
		line := raw
		if i := strings.Index(line, "#"); i == 0 || i > 0 && (line[i-1] == ' ' || line[i-1] == '\t') {
			line = line[:i]
		}
		if f := strings.Fields(line); len(f) > 0 {
			lines = append(lines, f)
		}
	}
	sites := 0
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if l[len(l)-1] != "{" {
			p = append(p, fmt.Sprintf("top level: %q outside any block", strings.Join(l, " ")))
			continue
		}
		// The block's body: up to the matching }.
		depth, j := 1, i+1
		for ; j < len(lines) && depth > 0; j++ {
			if lines[j][len(lines[j])-1] == "{" {
				depth++
			}
			if lines[j][0] == "}" {
				depth--
			}
		}
		body := lines[i+1 : j-1]
		switch {
		case len(l) == 1: // global options
			for _, b := range body {
				if b[0] == "reverse_proxy" || b[0] == "import" {
					p = append(p, "global options: "+strings.Join(b, " "))
				}
			}
		case l[0] == "(replicas)":
		default:
			sites++
			p = append(p, g.parseSite(strings.Join(l[:len(l)-1], " "), body)...)
		}
		i = j - 1
	}
	if sites != 1 {
		p = append(p, fmt.Sprintf("%d site blocks; the edge is one site, {$MUSTER_SITE_ADDRESS}", sites))
	}
	if n := strings.Count(text, "reverse_proxy"); n != 1 {
		p = append(p, fmt.Sprintf("reverse_proxy appears %d times; only the (replicas) snippet proxies", n))
	}
	return g, p
}

func (g *gateway) parseSite(address string, body []caddyLine) []string {
	var p []string
	if address != "{$MUSTER_SITE_ADDRESS}" {
		p = append(p, fmt.Sprintf("site %q: the edge's address is {$MUSTER_SITE_ADDRESS}", address))
	}
	for i := 0; i < len(body); i++ {
		l := body[i]
		switch {
		case strings.HasPrefix(l[0], "@") && len(l) >= 2:
			g.matchers[l[0]] = caddyMatcher{kind: l[1], args: l[2:]}
		case l[0] == "header":
			g.headers = append(g.headers, l)
		case l[0] == "handle" && l[len(l)-1] == "{":
			h := caddyHandle{}
			if len(l) == 3 {
				h.matcher = l[1]
			}
			for i++; i < len(body) && body[i][0] != "}"; i++ {
				switch in := body[i]; {
				case len(in) == 4 && in[0] == "import" && in[1] == "replicas":
					h.upstream = upstream{in[2], in[3]}
				case len(in) == 2 && in[0] == "respond":
					h.respond = in[1]
				default:
					p = append(p, fmt.Sprintf("handle %s: %q; a handle imports replicas or responds", h.matcher, strings.Join(in, " ")))
				}
			}
			g.handles = append(g.handles, h)
		default:
			p = append(p, fmt.Sprintf("site: %q is not a matcher, header or handle", strings.Join(l, " ")))
		}
	}
	return p
}

// route follows a plain-HTTP request for a path as Caddy would: the first
// handle whose matcher matches, path matchers on the cleaned path and
// case-insensitive.
func (g gateway) route(p string) caddyHandle {
	for _, h := range g.handles {
		if h.matcher == "" || g.matches(h.matcher, p) {
			return h
		}
	}
	return caddyHandle{respond: "(no handle: empty 200)"}
}

func (g gateway) matches(name, p string) bool {
	m, ok := g.matchers[name]
	if !ok {
		return false
	}
	switch m.kind {
	case "path":
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		return slices.ContainsFunc(m.args, func(pattern string) bool { return pathMatches(pattern, clean) })
	case "path_regexp":
		re, err := regexp.Compile(m.args[len(m.args)-1])
		return err == nil && re.MatchString(p)
	default: // protocol https and the like: not a plain-HTTP request
		return false
	}
}

// pathMatches is Caddy's path matcher for exact and prefix* patterns.
func pathMatches(pattern, p string) bool {
	pattern, p = strings.ToLower(pattern), strings.ToLower(p)
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(p, prefix)
	}
	return p == pattern
}

// gatewayProblems checks the Caddyfile against the public edge.
func gatewayProblems(text string, console []string) []string {
	g, p := parseCaddyfile(text)
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	for _, h := range g.handles {
		if h.upstream != (upstream{}) && !edgeUpstreams[h.upstream] {
			add("handle %s proxies to %s:%s, which is not on the public edge", h.matcher, h.upstream.service, h.upstream.port)
		}
	}
	// Everything public gets to its service.
	for _, want := range []struct {
		svc   upstream
		paths []string
	}{
		{upstream{"delivery", "8083"}, append(slices.Clone(deliveryEdge), edgeSamples(deliveryPrefixes)...)},
		{upstream{"campaigns", "8082"}, edgeSamples(campaignsEdge)},
		{upstream{"console", "8080"}, console},
	} {
		for _, path := range want.paths {
			if got := g.route(path); got.upstream != want.svc {
				add("%s should reach %s, goes to %+v", path, want.svc.service, got)
			}
		}
	}
	// Nothing else does: each matcher of a proxied handle is as narrow as
	// the routes behind it.
	for _, h := range g.handles {
		m := g.matchers[h.matcher]
		if h.upstream == (upstream{}) {
			continue
		}
		if m.kind != "path" {
			add("handle %s proxies on a %s matcher; the edge is path matchers only", h.matcher, m.kind)
			continue
		}
		var allowed []string
		switch h.upstream.service {
		case "delivery":
			allowed = slices.Clone(deliveryEdge)
			for _, prefix := range deliveryPrefixes {
				allowed = append(allowed, prefix+"*")
			}
		case "campaigns":
			for _, prefix := range campaignsEdge {
				allowed = append(allowed, prefix+"*")
			}
		case "console":
			for _, pattern := range m.args {
				if !slices.ContainsFunc(console, func(r string) bool { return pathMatches(pattern, r) }) {
					add("%s pattern %s matches no route of the console", h.matcher, pattern)
				}
			}
			allowed = m.args
		}
		for _, pattern := range m.args {
			if !slices.Contains(allowed, pattern) {
				add("%s pattern %s is not a public route of %s", h.matcher, pattern, h.upstream.service)
			}
		}
	}
	for _, path := range internalPaths {
		if got := g.route(path); got.upstream != (upstream{}) || got.respond != "404" {
			add("%s must get 404 from the gateway, goes to %+v", path, got)
		}
	}
	if len(g.handles) == 0 || g.handles[len(g.handles)-1] != (caddyHandle{respond: "404"}) {
		add("the last handle must be a bare `handle { respond 404 }`: everything else is not found")
	}
	hsts := false
	for _, h := range g.headers {
		if len(h) >= 4 && strings.TrimPrefix(h[2], ">") == "Strict-Transport-Security" && g.matchers[h[1]].kind == "protocol" && slices.Equal(g.matchers[h[1]].args, []string{"https"}) {
			hsts = strings.Contains(h[3], "max-age=")
			// The console and the member pages send their own over https:
			// set at once, the gateway's would be a second header.
			if !strings.HasPrefix(h[2], ">") {
				add("Strict-Transport-Security must replace the backend's as the response leaves (>Strict-Transport-Security), or responses carry two")
			}
		}
	}
	if !hsts {
		add("no Strict-Transport-Security header on https (header @tls >Strict-Transport-Security \"max-age=...\", @tls protocol https)")
	}
	return p
}

// edgeSamples is one request path under each link prefix.
func edgeSamples(prefixes []string) []string {
	var out []string
	for _, p := range prefixes {
		out = append(out, p+"dG9rZW4")
	}
	return out
}

func readCaddyfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(caddyfilePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestGatewayForwardsOnlyThePublicEdge(t *testing.T) {
	if p := gatewayProblems(readCaddyfile(t), consoleRoutes(t)); len(p) > 0 {
		t.Fatalf("deployments/gateway/Caddyfile does not match the public edge:\n%s", strings.Join(p, "\n"))
	}
}

func TestGatewayMistakesAreCaught(t *testing.T) {
	base := readCaddyfile(t)
	console := consoleRoutes(t)
	cases := []struct {
		name, old, new, want string
	}{
		{"metrics through the console", "/settings/reply-deadline /admin/*", "/settings/reply-deadline /admin/* /metrics", "/metrics must get 404"},
		{"a broad console prefix", "@console path / ", "@console path /* ", "/healthz must get 404"},
		{"a console prefix with no route", "/settings/reply-deadline /admin/*", "/settings/reply-deadline /admin/* /reports/*", "pattern /reports/* matches no route"},
		{"contacts published", "\thandle {\n\t\trespond 404", "\t@contacts path /contacts/export.csv\n\thandle @contacts {\n\t\timport replicas contacts 8081\n\t}\n\n\thandle {\n\t\trespond 404", "not on the public edge"},
		{"another webhook path", "/webhooks/sendgrid/inbound/* /unsubscribe", "/webhooks/sendgrid/inbound/* /webhooks/* /unsubscribe", "not a public route of delivery"},
		{"inbound parse unrouted", " /webhooks/sendgrid/inbound/* ", " ", "/webhooks/sendgrid/inbound/dG9rZW4 should reach delivery"},
		{"a link page missing", "@campaigns path /rsvp/* /sign/*", "@campaigns path /rsvp/*", "/sign/dG9rZW4 should reach campaigns"},
		{"fallback proxies", "\thandle {\n\t\trespond 404", "\thandle {\n\t\timport replicas console 8080", "last handle"},
		{"no HSTS", "header @tls >Strict-Transport-Security", "header @tls >X-Nothing", "Strict-Transport-Security"},
		{"HSTS beside the backend's", "header @tls >Strict-Transport-Security", "header @tls Strict-Transport-Security", "two"},
		{"a second site", "# (replicas NAME PORT)", ":8081 {\n\treverse_proxy contacts:8081\n}\n\n# (replicas NAME PORT)", "site blocks"},
		{"a raw proxy in the site", "\t@tls protocol https\n", "\t@tls protocol https\n\treverse_proxy /x contacts:8081\n", "not a matcher, header or handle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("the Caddyfile no longer contains %q; update the case", c.old)
			}
			p := gatewayProblems(strings.Replace(base, c.old, c.new, 1), console)
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("want a problem mentioning %q, got:\n%s", c.want, strings.Join(p, "\n"))
			}
		})
	}
}
