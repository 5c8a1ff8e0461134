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
