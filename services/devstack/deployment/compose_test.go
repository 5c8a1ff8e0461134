package deployment

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// composePath is the compose file, from this package's directory.
const composePath = "../../../docker-compose.yml"

// edgeService is the one service that may publish ports, and edgePorts the
// container ports it may publish them to.
const edgeService = "gateway"

var edgePorts = []string{"80", "443"}

// secretName is what a variable that holds a secret looks like.
var secretName = regexp.MustCompile(`KEY|SECRET|TOKEN|PASSWORD|SID|SEED|CREDENTIAL|AUTH`)

// identifiers match secretName but name no secret, and may be optional:
// a Twilio Messaging Service SID (MG...) is shown in Twilio's console to
// anyone on the account and signs nothing.
// Grafana's GF_AUTH_* switches (anonymous viewers, no sign-in form) hold
// no secret either.
var identifiers = map[string]bool{"DELIVERY_TWILIO_MESSAGING_SERVICE_SID": true,
	"GF_AUTH_ANONYMOUS_ENABLED": true, "GF_AUTH_ANONYMOUS_ORG_ROLE": true, "GF_AUTH_BASIC_ENABLED": true, "GF_AUTH_DISABLE_LOGIN_FORM": true}

// rotationLists are secrets that are empty unless a key is being rotated
// (the previous keys, which still verify): each must be exactly ${VAR:-},
// empty by default and never a value.
var rotationLists = map[string]bool{"CAMPAIGNS_LINK_SECRET_PREVIOUS": true, "DELIVERY_UNSUBSCRIBE_SECRET_PREVIOUS": true,
	"DELIVERY_SENDGRID_INBOUND_SECRET_PREVIOUS": true}

// devMode is a service's development-mode switch (<SVC>_DEV_MODE), which
// accepts the simulator's credentials and URLs and development secrets:
// outside the dev profile it is off unless the operator's .env turns it on
// (make-env.sh --dev does, beside the simulator's URLs), so it must be
// false or ${VAR:-false}, never on in the file.
var devMode = regexp.MustCompile(`^[A-Z]+_DEV_MODE$`)

// providerURLs must default to empty, which is the real provider: only the
// dev profile points them at the simulator.
var providerURLs = []string{"DELIVERY_TWILIO_API_URL", "DELIVERY_SENDGRID_API_URL"}

// interpolation is one ${NAME...} in a value; a $$ before it escapes it.
var interpolation = regexp.MustCompile(`(?:^|[^$])\$\{([A-Za-z_][A-Za-z0-9_]*)((?::?[-?+])?)([^}]*)\}`)

// required is a whole value that is exactly ${NAME:?message}.
var required = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]*[^}\s][^}]*\}$`)

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
}

type composeService struct {
	Image       string   `yaml:"image"`
	Profiles    []string `yaml:"profiles"`
	Ports       []any    `yaml:"ports"`
	NetworkMode string   `yaml:"network_mode"`
	Environment any      `yaml:"environment"`
	DependsOn   any      `yaml:"depends_on"`
	Command     []string `yaml:"command"`
	Volumes     []string `yaml:"volumes"`
}

// natsNodeMounts are what a NATS node reads beside cluster.conf: the
// authorization block it includes and its TLS files (container path ->
// host path).
var natsNodeMounts = map[string]string{
	"/etc/nats/auth.conf": "./deployments/nats/auth.conf",
	"/etc/nats/tls":       "./deployments/nats/tls",
}

// mounts is the service's short-form volumes as container path -> source.
func (s composeService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			out[parts[1]] = parts[0]
		}
	}
	return out
}

// devOnly reports whether a service runs only in the dev profile.
func (s composeService) devOnly() bool {
	return len(s.Profiles) > 0 && !slices.ContainsFunc(s.Profiles, func(p string) bool { return p != "dev" })
}

// env is the service's environment as name -> value; a nil value is a
// variable passed through by name from the operator's environment.
func (s composeService) env() (map[string]*string, error) {
	out := map[string]*string{}
	switch e := s.Environment.(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = nil
				continue
			}
			str := fmt.Sprint(v)
			out[k] = &str
		}
	case []any:
		for _, item := range e {
			k, v, ok := strings.Cut(fmt.Sprint(item), "=")
			if !ok {
				out[k] = nil
				continue
			}
			out[k] = &v
		}
	default:
		return nil, fmt.Errorf("environment is a %T", e)
	}
	return out, nil
}

// dependencies are the names in depends_on, in its list or map form.
func (s composeService) dependencies() []string {
	var out []string
	switch d := s.DependsOn.(type) {
	case []any:
		for _, n := range d {
			out = append(out, fmt.Sprint(n))
		}
	case map[string]any:
		for n := range d {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// composeProblems checks a compose file against the trust boundary and
// says, one line each, what breaks it.
func composeProblems(data []byte) []string {
	var f composeFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return []string{"parsing: " + err.Error()}
	}
	var tree any
	if err := yaml.Unmarshal(data, &tree); err != nil {
		return []string{"parsing: " + err.Error()}
	}
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if len(f.Services) == 0 {
		add("no services")
	}
	if _, ok := f.Services[edgeService]; !ok {
		add("no %s service: nothing is the public edge", edgeService)
	}
	names := make([]string, 0, len(f.Services))
	for n := range f.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := f.Services[name]
		// Only the gateway publishes, and only its HTTP and HTTPS ports;
		// the operators' dashboards (profile observability) only on the
		// host's loopback, for an SSH tunnel.
		switch {
		case name == edgeService:
		case slices.Equal(s.Profiles, []string{"observability"}):
			for _, port := range s.Ports {
				if !strings.HasPrefix(fmt.Sprint(port), "127.0.0.1:") {
					add("%s: publishes %v beyond the host's loopback; an operators' tool publishes on 127.0.0.1 only", name, port)
				}
			}
		case len(s.Ports) > 0:
			add("%s: publishes ports %v; only the %s may (use expose for the compose network)", name, s.Ports, edgeService)
		}
		if name == edgeService {
			for _, port := range s.Ports {
				if c := containerPort(port); !slices.Contains(edgePorts, c) {
					add("%s: publishes container port %s; the edge is %v", name, c, edgePorts)
				}
			}
		}
		if s.NetworkMode == "host" {
			add("%s: network_mode host puts every port it opens on the host", name)
		}
		// The simulator exists only in the dev profile, and nothing outside
		// it depends on it or calls it.
		if strings.Contains(name, "simulator") || strings.Contains(s.Image, "simulator") {
			if !slices.Equal(s.Profiles, []string{"dev"}) {
				add("%s: the simulator must be in the dev profile only (profiles: [\"dev\"]), has %v", name, s.Profiles)
			}
		}
		env, err := s.env()
		if err != nil {
			add("%s: %v", name, err)
			continue
		}
		if !s.devOnly() {
			for _, dep := range s.dependencies() {
				if d, ok := f.Services[dep]; ok && d.devOnly() {
					add("%s: depends_on %s, which runs only in the dev profile", name, dep)
				}
			}
			for k, v := range env {
				if v != nil && strings.Contains(*v, "simulator") {
					add("%s: %s points at the simulator outside the dev profile: %q", name, k, *v)
				}
			}
		}
		// A NATS node has its users and certificates, and a NATS client
		// the CA it checks the nodes with.
		if slices.Contains(s.Command, "/etc/nats/cluster.conf") {
			for target, source := range natsNodeMounts {
				if s.mounts()[target] != source {
					add("%s: must mount %s at %s (cluster.conf reads it)", name, source, target)
				}
			}
		}
		for k, v := range env {
			if strings.HasSuffix(k, "_NATS_CA_FILE") && v != nil {
				if _, ok := s.mounts()[*v]; !ok {
					add("%s: %s is %s, which it does not mount", name, k, *v)
				}
			}
		}
		for _, k := range providerURLs {
			if v, ok := env[k]; ok && (v == nil || *v != "${"+k+":-}") {
				add("%s: %s must be ${%s:-} (empty: the real provider; the dev profile sets it)", name, k, k)
			}
		}
		for k, v := range env {
			if !devMode.MatchString(k) || s.devOnly() {
				continue
			}
			if v == nil || (*v != "false" && *v != "${"+k+":-false}") {
				add("%s: %s must be false or ${%s:-false} outside the dev profile (development mode accepts the simulator's credentials)", name, k, k)
			}
		}
		// Every secret is required: exactly ${VAR:?what to set}.
		for k, v := range env {
			if !secretName.MatchString(k) || identifiers[k] {
				continue
			}
			switch {
			case rotationLists[k]:
				if v == nil || *v != "${"+k+":-}" {
					add("%s: %s must be ${%s:-} (empty unless rotating a key)", name, k, k)
				}
			case v == nil && s.devOnly():
				// Passed through by name in a dev-only service: compose
				// interpolates every service before it applies profiles,
				// so ${VAR:?} here would be required in production too.
			case v == nil:
				add("%s: %s is passed through from the environment; make it ${%s:?what to set}", name, k, k)
			case !required.MatchString(*v):
				add("%s: %s is %q; a secret must be ${VAR:?what to set}, never a value or a default", name, k, redact(*v))
			}
		}
	}
	// No secret anywhere (inside URLs, in x- anchors) has a default, and
	// every required variable says what to set.
	for _, v := range scalars(tree) {
		for _, m := range interpolation.FindAllStringSubmatch(v, -1) {
			variable, op, rest := m[1], m[2], m[3]
			if (op == ":?" || op == "?") && strings.TrimSpace(rest) == "" {
				add("${%s%s} says nothing: write what to set after the ?", variable, op)
			}
			if rotationLists[variable] && op == ":-" && rest == "" {
				continue
			}
			if secretName.MatchString(variable) && !identifiers[variable] && op != ":?" {
				add("${%s%s%s}: a secret must be ${%s:?what to set}, with no default", variable, op, redact(rest), variable)
			}
		}
	}
	sort.Strings(p)
	return slices.Compact(p)
}

// containerPort is the container side of a ports entry, short or long form.
func containerPort(entry any) string {
	switch e := entry.(type) {
	case map[string]any:
		return fmt.Sprint(e["target"])
	default:
		s := fmt.Sprint(e)
		s, _, _ = strings.Cut(s, "/")
		if i := strings.LastIndex(s, ":"); i >= 0 {
			return s[i+1:]
		}
		return s
	}
}

// scalars is every string scalar of a decoded YAML tree.
func scalars(tree any) []string {
	var out []string
	var walk func(any)
	walk = func(n any) {
		switch v := n.(type) {
		case string:
			out = append(out, v)
		case map[string]any:
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(tree)
	return out
}

// redact keeps a problem line from repeating a value that may be a real
// secret.
func redact(v string) string {
	if len(v) <= 12 {
		return v
	}
	return v[:12] + "..."
}

func readCompose(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestComposeKeepsTheTrustBoundary(t *testing.T) {
	if p := composeProblems(readCompose(t)); len(p) > 0 {
		t.Fatalf("docker-compose.yml breaks the trust boundary:\n%s", strings.Join(p, "\n"))
	}
}

// Each way of breaking the boundary, made once in the real file, is caught
// with a line that names it.
func TestComposeMistakesAreCaught(t *testing.T) {
	base := string(readCompose(t))
	cases := []struct {
		name, old, new, want string
	}{
		{"a service's port published", `expose: ["8081"]`, `ports: ["8081:8081"]`, "contacts: publishes ports"},
		{"grafana published beyond loopback", `"127.0.0.1:3000:3000"`, `"3000:3000"`, "grafana: publishes 3000:3000 beyond the host's loopback"},
		{"simulator published", "    profiles: [\"dev\"]\n", "    profiles: [\"dev\"]\n    ports: [\"8090:8090\"]\n", "simulator: publishes ports"},
		{"gateway publishes another port", `- "${MUSTER_HTTPS_PORT:-443}:443"`, `- "8222:8222"`, "publishes container port 8222"},
		{"simulator in the default profile", "    profiles: [\"dev\"]\n", "", "dev profile only"},
		{"depends on the simulator", "      delivery-migrate:\n        condition: service_completed_successfully\n",
			"      delivery-migrate:\n        condition: service_completed_successfully\n      simulator:\n        condition: service_started\n", "depends_on simulator"},
		{"provider URL defaults to the simulator", "${DELIVERY_TWILIO_API_URL:-}", "${DELIVERY_TWILIO_API_URL:-http://simulator:8090}", "DELIVERY_TWILIO_API_URL"},
		{"secret with a default", "${CAMPAIGNS_LINK_SECRET:?", "${CAMPAIGNS_LINK_SECRET:-dev-only-campaigns-link-secret-change-me}${X:?", "CAMPAIGNS_LINK_SECRET"},
		{"secret as a literal", "DELIVERY_UNSUBSCRIBE_SECRET: ${DELIVERY_UNSUBSCRIBE_SECRET:?", "DELIVERY_UNSUBSCRIBE_SECRET: dev-only-secret #${X:?", "DELIVERY_UNSUBSCRIBE_SECRET"},
		{"password default inside a URL", "postgres://postgres:${POSTGRES_PASSWORD:?", "postgres://postgres:${POSTGRES_PASSWORD:-muster-dev}${X:?", "POSTGRES_PASSWORD"},
		{"required without a reason", "${CONSOLE_ADMIN_EMAIL:?set the first admin's email address}", "${CONSOLE_ADMIN_EMAIL:?}", "says nothing"},
		{"secret passed through outside dev", "CONSOLE_SERVICE_KEY: ${CONSOLE_SERVICE_KEY:?set the console's service key (console keygen; make-env.sh writes it)}", "CONSOLE_SERVICE_KEY:", "passed through"},
		{"rotation list with a value", "${CAMPAIGNS_LINK_SECRET_PREVIOUS:-}", "${CAMPAIGNS_LINK_SECRET_PREVIOUS:-dev-only-old-campaigns-link-secret-0000}", "CAMPAIGNS_LINK_SECRET_PREVIOUS"},
		{"development mode on by default", "DELIVERY_DEV_MODE: ${DELIVERY_DEV_MODE:-false}", "DELIVERY_DEV_MODE: ${DELIVERY_DEV_MODE:-true}", "DELIVERY_DEV_MODE must be false"},
		{"development mode on", "DELIVERY_DEV_MODE: ${DELIVERY_DEV_MODE:-false}", `DELIVERY_DEV_MODE: "true"`, "DELIVERY_DEV_MODE must be false"},
		{"NATS node without its users", "      - ./deployments/nats/auth.conf:/etc/nats/auth.conf:ro\n", "", "nats-1: must mount ./deployments/nats/auth.conf"},
		{"service without the NATS CA", "    environment: *contacts-env\n    volumes:\n      - *nats-ca\n    expose", "    environment: *contacts-env\n    expose", "contacts: CONTACTS_NATS_CA_FILE"},
		{"host network", "    image: caddy:2.10-alpine\n", "    image: caddy:2.10-alpine\n    network_mode: host\n", "network_mode host"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("docker-compose.yml no longer contains %q; update the case", c.old)
			}
			p := composeProblems([]byte(strings.Replace(base, c.old, c.new, 1)))
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("want a problem mentioning %q, got:\n%s", c.want, strings.Join(p, "\n"))
			}
		})
	}
}
