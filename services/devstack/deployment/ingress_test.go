package deployment

import (
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/delivery/prefs"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
)

const ingressPath = "../../../deployments/k8s/ingress.yaml"

// ingress is what the test needs of deployments/k8s/ingress.yaml.
type ingress struct {
	Spec struct {
		Rules []struct {
			Host string `yaml:"host"`
			HTTP struct {
				Paths []ingressPathRule `yaml:"paths"`
			} `yaml:"http"`
		} `yaml:"rules"`
	} `yaml:"spec"`
}

type ingressPathRule struct {
	Path     string `yaml:"path"`
	PathType string `yaml:"pathType"`
	Backend  struct {
		Service struct {
			Name string `yaml:"name"`
		} `yaml:"service"`
	} `yaml:"backend"`
}

// route is the Service a request for p reaches, as the Ingress API
// defines matching: the longest matching path wins, Exact before Prefix
// of the same length, Prefix by whole path elements. Controllers
// normalize the path first; "" is no match (404).
func (in ingress) route(p string) string {
	clean := path.Clean(p)
	best, bestLen, bestExact := "", -1, false
	for _, r := range in.Spec.Rules {
		for _, rule := range r.HTTP.Paths {
			var ok bool
			switch rule.PathType {
			case "Exact":
				ok = clean == rule.Path
			case "Prefix":
				prefix := strings.TrimSuffix(rule.Path, "/")
				ok = prefix == "" || clean == prefix || strings.HasPrefix(clean, prefix+"/")
			}
			exact := rule.PathType == "Exact"
			if ok && (len(rule.Path) > bestLen || len(rule.Path) == bestLen && exact && !bestExact) {
				best, bestLen, bestExact = rule.Backend.Service.Name, len(rule.Path), exact
			}
		}
	}
	return best
}

func ingressProblems(data []byte, console []string) []string {
	var in ingress
	if err := yaml.Unmarshal(data, &in); err != nil {
		return []string{"parsing: " + err.Error()}
	}
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	for _, r := range in.Spec.Rules {
		for _, rule := range r.HTTP.Paths {
			if s := rule.Backend.Service.Name; !edgeUpstreams[upstream{s, upstreamPort(s)}] {
				add("%s %s goes to %s, which is not on the public edge", rule.PathType, rule.Path, s)
			}
			if rule.PathType != "Exact" && rule.PathType != "Prefix" {
				add("%s has pathType %q; the edge is Exact and Prefix only (ImplementationSpecific differs per controller)", rule.Path, rule.PathType)
			}
		}
	}
	for _, want := range []struct {
		service string
		paths   []string
	}{{"delivery", append(slices.Clone(deliveryEdge), edgeSamples(deliveryPrefixes)...)}, {"campaigns", edgeSamples(campaignsEdge)}, {"console", console}} {
		for _, path := range want.paths {
			if got := in.route(path); got != want.service {
				add("%s should reach %s, goes to %q", path, want.service, got)
			}
		}
	}
	for _, path := range internalPaths {
		// Prefix /rsvp/ matches /rsvp as well (the Ingress API ignores the
		// trailing slash); campaigns routes nothing there, nor delivery at
		// the Inbound Parse prefix without its secret, nor at /prefs.
		if path == strings.TrimSuffix(message.RSVPPath, "/") || path == strings.TrimSuffix(message.SignPath, "/") ||
			path == strings.TrimSuffix(sendgrid.InboundPrefix, "/") || path == strings.TrimSuffix(prefs.Prefix, "/") {
			continue
		}
		if got := in.route(path); got != "" {
			add("%s must get 404 from the Ingress, goes to %s", path, got)
		}
	}
	return p
}

// upstreamPort is the port a service serves on, as edgeUpstreams has it.
func upstreamPort(service string) string {
	for u := range edgeUpstreams {
		if u.service == service {
			return u.port
		}
	}
	return ""
}

func readIngress(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(ingressPath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestIngressRoutesOnlyThePublicEdge(t *testing.T) {
	if p := ingressProblems(readIngress(t), consoleRoutes(t)); len(p) > 0 {
		t.Fatalf("deployments/k8s/ingress.yaml does not match the public edge:\n%s", strings.Join(p, "\n"))
	}
}

func TestIngressMistakesAreCaught(t *testing.T) {
	base := string(readIngress(t))
	console := consoleRoutes(t)
	cases := []struct {
		name, old, new, want string
	}{
		{"console by prefix /", "          - path: /\n            pathType: Exact\n", "          - path: /\n            pathType: Prefix\n", "/metrics must get 404"},
		{"contacts behind a console path", "          - path: /contacts\n            pathType: Prefix\n            backend:\n              service:\n                name: console", "          - path: /contacts\n            pathType: Prefix\n            backend:\n              service:\n                name: contacts", "not on the public edge"},
		{"a console page missing", "          - path: /optouts\n", "          - path: /optout\n", "/optouts should reach console"},
		{"webhooks by prefix", "          - path: /webhooks/twilio/inbound\n            pathType: Exact\n", "          - path: /webhooks\n            pathType: Prefix\n", "/webhooks/twilio/other must get 404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("ingress.yaml no longer contains %q; update the case", c.old)
			}
			p := ingressProblems([]byte(strings.Replace(base, c.old, c.new, 1)), console)
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("want a problem mentioning %q, got:\n%s", c.want, strings.Join(p, "\n"))
			}
		})
	}
}
