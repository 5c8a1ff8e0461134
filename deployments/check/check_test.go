package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"client URL misses a node", ",nats://nats-2.nats-headless:4222", "", "want every node"},
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

// A compose node configuration with client and route TLS from the compose
// mount and an authorization block reading public nkeys from the
// environment loads offline, and a broken one still fails.
func TestComposeNATSConfigWithTLSAndUsers(t *testing.T) {
	dir := t.TempDir()
	base, err := os.ReadFile("../nats/cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(base) + `
tls {
  cert_file: /etc/nats/tls/tls.crt
  key_file: /etc/nats/tls/tls.key
  ca_file: /etc/nats/tls/ca.crt
}
include auth.conf
`
	auth := "authorization {\n  users = [\n    { nkey: $NATS_CONTACTS_NKEY }\n  ]\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "cluster.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := loadComposeNATSConfig(filepath.Join(dir, "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLSConfig == nil || len(opts.Nkeys) != 1 {
		t.Fatalf("tls %v, %d nkey users; want TLS and one user", opts.TLSConfig != nil, len(opts.Nkeys))
	}
	broken := strings.Replace(conf, "/etc/nats/tls/tls.key", "/etc/nats/tls/missing.key", 1)
	if err := os.WriteFile(filepath.Join(dir, "cluster.conf"), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadComposeNATSConfig(filepath.Join(dir, "cluster.conf")); err == nil || strings.Contains(err.Error(), os.TempDir()+"/nats-compose-") {
		t.Fatalf("a missing key file: err %v; want an error naming the real directory", err)
	}
}

// An authorization block in the NATS ConfigMap that reads the users'
// public nkeys from the Secret (placeholders in the base) still loads.
func TestNATSAuthorizationInConfigMapLoads(t *testing.T) {
	base := manifests(t)
	for _, old := range []string{"    server_name: $SERVER_NAME\n", "data:\n  nats.conf: |\n"} {
		if !strings.Contains(base, old) {
			t.Fatalf("nats.yaml no longer contains %q; update the test", old)
		}
	}
	withAuth := strings.Replace(base, "    server_name: $SERVER_NAME\n", "    server_name: $SERVER_NAME\n    include auth.conf\n", 1)
	withAuth = strings.Replace(withAuth, "data:\n  nats.conf: |\n",
		"data:\n  auth.conf: |\n    authorization { users = [ { nkey: $NATS_CONTACTS_NKEY }, { nkey: $NATS_ADMIN_NKEY } ] }\n  nats.conf: |\n", 1)
	if p := check(t, withAuth); len(p) > 0 {
		t.Fatalf("the manifests with an authorization block fail:\n%s", strings.Join(p, "\n"))
	}
}
