package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// manifests reads the real base manifests, as one stream.
func manifests(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob("../k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
		b.WriteString("\n")
	}
	return b.String()
}

func check(t *testing.T, stream string) []string {
	t.Helper()
	docs, problems := decodeAll("test", []byte(stream))
	return append(problems, checkObjects(docs)...)
}

func TestManifestsPass(t *testing.T) {
	if p := check(t, manifests(t)); len(p) > 0 {
		t.Fatalf("the manifests fail their own checks:\n%s", strings.Join(p, "\n"))
	}
}

func TestNATSConfigsPass(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-nats-conf", "../nats/cluster.conf"}, nil, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
}

// The compose node configuration without its locks is refused.
func TestNATSConfigMistakesAreCaught(t *testing.T) {
	base, err := os.ReadFile("../nats/cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	auth, err := os.ReadFile("../nats/auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"anonymous clients", "include ./auth.conf", "", "no authorization users"},
		{"routes without TLS", "  tls {\n    cert_file: /etc/nats/tls/tls.crt\n    key_file: /etc/nats/tls/tls.key\n    ca_file: /etc/nats/tls/ca.crt\n    verify: true\n    timeout: 2\n  }\n", "", "routes must use TLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(base), c.old) {
				t.Fatalf("cluster.conf no longer contains %q; update the case", c.old)
			}
			dir := t.TempDir()
			conf := filepath.Join(dir, "cluster.conf")
			if err := os.WriteFile(conf, []byte(strings.Replace(string(base), c.old, c.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "auth.conf"), auth, 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := run([]string{"-nats-conf", conf}, nil, &out)
			if err == nil || !strings.Contains(out.String(), c.want) {
				t.Fatalf("want a problem mentioning %q, got %v:\n%s", c.want, err, out.String())
			}
		})
	}
}

// Each mistake, made once in the real manifests, is caught with a message
// that names it.
func TestMistakesAreCaught(t *testing.T) {
	base := manifests(t)
	cases := []struct {
		name, old, new, want string
	}{
		{"misspelt field", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", `unknown field`},
		{"duplicate env var", "- name: GOMEMLIMIT", "- name: CAMPAIGNS_DATABASE_URL", "duplicate entries"},
		{"missing secret key", "key: DELIVERY_REDIS_URL", "key: DELIVERY_REDIS", "has no key DELIVERY_REDIS"},
		{"budget blocks drains", "minAvailable: 1", "minAvailable: 2", "blocks every node drain"},
		{"root user", "runAsUser: 65532", "runAsUser: 0", "non-zero uid"},
		{"readiness not /readyz", "path: /readyz", "path: /ready", "readinessProbe must be GET /readyz"},
		{"service port unnamed", "targetPort: http", "targetPort: web", `targetPort "web"`},
		{"selector misses its pods", "    matchLabels:\n      app.kubernetes.io/name: contacts", "    matchLabels:\n      app.kubernetes.io/name: contact", "does not match the pod template"},
		{"route to a missing node", "nats://nats-2.nats-headless:6222", "nats://nats-3.nats-headless:6222", "routes"},
		{"client URL misses a node", ",tls://nats-2.nats-headless:4222", "", "want every node"},
		{"client URL without TLS", "tls://nats-0.nats-headless:4222,", "nats://nats-0.nats-headless:4222,", "want every node"},
		{"anonymous NATS clients", "    include ./auth.conf\n", "", "no authorization users"},
		{"NATS clients without TLS", "    tls {\n      cert_file: /etc/nats/tls/tls.crt\n      key_file: /etc/nats/tls/tls.key\n      ca_file: /etc/nats/tls/ca.crt\n      timeout: 2\n    }\n", "", "clients must connect over TLS"},
		{"routes without TLS", "      tls {\n        cert_file: /etc/nats/tls/tls.crt\n        key_file: /etc/nats/tls/tls.key\n        ca_file: /etc/nats/tls/ca.crt\n        verify: true\n        timeout: 2\n      }\n", "", "routes must use TLS"},
		{"NATS key not set", "- name: NATS_ADMIN_NKEY", "- name: NATS_ADMIN_KEY", "$NATS_ADMIN_NKEY"},
		{"NATS certificates not mounted", "              mountPath: /etc/nats/tls\n", "              mountPath: /etc/nats/certs\n", "mounts nothing"},
		{"service without its NATS key", "- name: CONTACTS_NATS_SEED", "- name: CONTACTS_NATS_KEY", "CONTACTS_NATS_SEED does not come from a Secret"},
		{"NATS CA not mounted", "              mountPath: /etc/muster/nats\n", "              mountPath: /etc/muster/natz\n", "on no volume"},
		{"stream replicas", `CONTACTS_STREAM_REPLICAS: "3"`, `CONTACTS_STREAM_REPLICAS: "1"`, "NATS has 3 nodes"},
		{"unquoted interval", "sync_interval: always", "sync_interval: 2m", "quote durations"},
		{"bad nats syntax", "max_file_store: 8GB", "max_file_store: 8XB", "max_file_store"},
		{"peers hidden", "publishNotReadyAddresses: true", "publishNotReadyAddresses: false", "not-ready"},
		{"no default deny", "  podSelector: {}\n  policyTypes: [\"Ingress\", \"Egress\"]\n", "  podSelector: {}\n  policyTypes: [\"Ingress\"]\n", "no default-deny"},
		{"policy selects nothing", "  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: contacts\n  policyTypes", "  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: contact\n  policyTypes", "matches no workload"},
		{"console cut off from contacts", "              app.kubernetes.io/name: contacts\n      ports:\n        - protocol: TCP\n          port: 8081", "              app.kubernetes.io/name: contacts\n      ports:\n        - protocol: TCP\n          port: 8091", "CONSOLE_CONTACTS_URL"},
		{"a service cut off from NATS", "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: campaigns\n        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: delivery\n      ports:\n        - protocol: TCP\n          port: 4222", "        - podSelector:\n            matchLabels:\n              app.kubernetes.io/name: campaigns\n      ports:\n        - protocol: TCP\n          port: 4222", "DELIVERY_NATS_URL"},
		{"NATS routes blocked", "              app.kubernetes.io/name: nats\n      ports:\n        - protocol: TCP\n          port: 6222\n", "              app.kubernetes.io/name: nats\n      ports:\n        - protocol: TCP\n          port: 6223\n", "route to each other"},
		{"no DNS", "          port: 53\n        - protocol: TCP\n          port: 53", "          port: 5353\n        - protocol: TCP\n          port: 53", "may not ask DNS"},
		{"controller cut off from delivery", "              app.kubernetes.io/name: console\n        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: ingress-nginx\n          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: ingress-nginx\n      ports:\n        - protocol: TCP\n          port: 8083", "              app.kubernetes.io/name: console\n      ports:\n        - protocol: TCP\n          port: 8083", "do not admit the \"nginx\" ingress controller"},
		{"metrics on the edge", "          - path: /admin\n", "          - path: /metrics\n            pathType: Exact\n            backend:\n              service:\n                name: console\n                port:\n                  name: http\n          - path: /admin\n", "Exact /metrics to console is not on the public edge"},
		{"contacts on the edge", "          - path: /contacts\n            pathType: Prefix\n            backend:\n              service:\n                name: console", "          - path: /contacts\n            pathType: Prefix\n            backend:\n              service:\n                name: contacts", "to contacts is not on the public edge"},
		{"edge route missing", "          - path: /sign/\n            pathType: Prefix\n", "          - path: /sign/\n            pathType: ImplementationSpecific\n", "Prefix /sign/ to campaigns is in no Ingress"},
		{"no TLS", "  tls:\n    - hosts:\n        - muster.example.org\n      secretName: muster-tls\n", "", "has no TLS"},
		{"wrong backend port", "                name: delivery\n                port:\n                  name: http", "                name: delivery\n                port:\n                  name: web", "does not have"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(base, c.old) {
				t.Fatalf("the manifests no longer contain %q; update the case", c.old)
			}
			p := check(t, strings.Replace(base, c.old, c.new, 1))
			if !strings.Contains(strings.Join(p, "\n"), c.want) {
				t.Fatalf("want a problem mentioning %q, got:\n%s", c.want, strings.Join(p, "\n"))
			}
		})
	}
}

// A real NATS certificate that does not name the nodes, or cannot be a
// client on routes, is caught; the base's placeholders are replaced by a
// throwaway one so the configuration still loads.
func TestNATSCertificateIsChecked(t *testing.T) {
	hosts := []string{"nats-0.nats-headless", "nats-1.nats-headless", "nats-2.nats-headless"}
	ca, cert, key, err := throwawayTLS(hosts[:2])
	if err != nil {
		t.Fatal(err)
	}
	p := checkTLS(map[string][]byte{tlsCA: ca, tlsCert: cert, tlsKey: key}, hosts)
	if !strings.Contains(strings.Join(p, "\n"), "nats-2.nats-headless") {
		t.Fatalf("a certificate without nats-2's name passed: %v", p)
	}
	_, other, _, err := throwawayTLS(hosts)
	if err != nil {
		t.Fatal(err)
	}
	if p := checkTLS(map[string][]byte{tlsCA: ca, tlsCert: other}, hosts); len(p) == 0 {
		t.Fatal("a certificate from another CA passed")
	}
}

// The compose node configuration loads offline as a node would read it:
// client and route TLS from the compose mount (throwaway certificates) and
// auth.conf's users with their public nkeys from the environment. A broken
// one still fails, naming the real files rather than their scratch copies.
func TestComposeNATSConfigWithTLSAndUsers(t *testing.T) {
	opts, _, err := loadNATSConfig("../nats/cluster.conf", map[string]string{"NATS_SERVER_NAME": "nats-1"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLSConfig == nil || opts.Cluster.TLSConfig == nil || len(opts.Nkeys) != 4 {
		t.Fatalf("client tls %v, route tls %v, %d nkey users; want both and four users",
			opts.TLSConfig != nil, opts.Cluster.TLSConfig != nil, len(opts.Nkeys))
	}
	dir := t.TempDir()
	for _, name := range []string{"cluster.conf", "auth.conf"} {
		data, err := os.ReadFile(filepath.Join("../nats", name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "cluster.conf" {
			data = []byte(strings.Replace(string(data), "/etc/nats/tls/tls.key", "/etc/nats/tls/missing.key", 1))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = loadNATSConfig(filepath.Join(dir, "cluster.conf"), map[string]string{"NATS_SERVER_NAME": "nats-1"})
	if err == nil || strings.Contains(err.Error(), os.TempDir()+"/nats-conf-") || !strings.Contains(err.Error(), "/etc/nats/tls/missing.key") {
		t.Fatalf("a missing key file: err %v; want an error naming /etc/nats/tls/missing.key and the real directory", err)
	}
}

// Development mode accepts the simulator's credentials and public
// development secrets, so the base never turns it on, and the dev overlay
// turns it on for every service it gives development secrets.
func TestDevelopmentModeOnlyInTheDevOverlay(t *testing.T) {
	docs, problems := decodeAll("base", []byte(manifests(t)))
	if len(problems) > 0 {
		t.Fatal(strings.Join(problems, "\n"))
	}
	for _, d := range docs {
		switch o := d.obj.(type) {
		case *corev1.ConfigMap:
			for k, v := range o.Data {
				if strings.HasSuffix(k, "_DEV_MODE") && v != "false" {
					t.Errorf("%s: %s is %q; development mode belongs in deployments/k8s-dev only", d.name(), k, v)
				}
			}
		case *appsv1.Deployment:
			for _, c := range o.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					if strings.HasSuffix(e.Name, "_DEV_MODE") && e.Value != "false" {
						t.Errorf("%s: container %s sets %s; development mode belongs in deployments/k8s-dev only", d.name(), c.Name, e.Name)
					}
				}
			}
		}
	}

	dev := map[string]string{}
	prefixes := map[string]bool{}
	for _, f := range []string{"../k8s-dev/config.yaml", "../k8s-dev/secrets.yaml"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, problems := decodeAll(f, data)
		if len(problems) > 0 {
			t.Fatal(strings.Join(problems, "\n"))
		}
		for _, d := range docs {
			switch o := d.obj.(type) {
			case *corev1.ConfigMap:
				maps.Copy(dev, o.Data)
			case *corev1.Secret:
				if o.Name != "muster-secrets" {
					continue // the NATS keys and certificate are no service's secrets to check
				}
				for k := range o.StringData {
					if p, _, ok := strings.Cut(k, "_"); ok {
						prefixes[p] = true
					}
				}
			}
		}
	}
	if len(prefixes) == 0 {
		t.Fatal("no development secrets found in deployments/k8s-dev/secrets.yaml; update the test")
	}
	for p := range prefixes {
		if p == "POSTGRES" {
			continue // the throwaway PostgreSQL's own password
		}
		if dev[p+"_DEV_MODE"] != "true" {
			t.Errorf("deployments/k8s-dev gives %s development secrets but not %s_DEV_MODE: \"true\" (it would refuse them)", strings.ToLower(p), p)
		}
	}
}
