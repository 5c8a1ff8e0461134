// Package testkit gives each test real, isolated infrastructure: an
// embedded NATS server with JetStream in a temp dir, a fresh PostgreSQL
// database cloned from a migrated template, and a Redis key prefix of its
// own. Nothing is mocked.
package testkit

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/natsserver"
)

// NATS is an embedded NATS server with JetStream that a test can stop and
// start again on the same port and store, to prove recovery. It runs with
// the natsauth permission table, as production does: each service
// connects as its own user (Seed), tests that inspect streams as
// natsauth.Admin (ClientOptions), and anonymous clients are refused.
type NATS struct {
	t     testing.TB
	dir   string
	port  int
	srv   *server.Server
	seeds natsauth.Seeds
	keys  map[string]string
	ca    *CA
	tls   *tls.Config
}

// StartNATS starts an embedded JetStream server on a free loopback port
// with its store in a temp dir and fresh keys for every user; it is shut
// down when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	return startNATS(t, false)
}

// StartNATSTLS is StartNATS with TLS required of every client; the
// server's certificate comes from a throwaway CA whose file is CAFile.
func StartNATSTLS(t testing.TB) *NATS {
	t.Helper()
	return startNATS(t, true)
}

func startNATS(t testing.TB, withTLS bool) *NATS {
	t.Helper()
	seeds, err := natsauth.NewSeeds()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seeds.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{t: t, dir: t.TempDir(), port: -1, seeds: seeds, keys: keys}
	if withTLS {
		n.ca = NewCA(t)
		n.tls = n.ca.ServerTLS(t, "127.0.0.1", "localhost")
	}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// Start (re)starts the server on the same port and store directory.
func (n *NATS) Start() {
	n.t.Helper()
	srv, err := natsserver.Run(natsserver.Config{Host: "127.0.0.1", Port: n.port, StoreDir: n.dir, Keys: n.keys, TLS: n.tls})
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv = srv
	n.port = natsserver.Port(srv)
}

// Stop shuts the server down; clients see a disconnect and reconnect when
// Start is called again.
func (n *NATS) Stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// URL is the client URL of the server.
func (n *NATS) URL() string {
	if n.tls != nil {
		return fmt.Sprintf("tls://127.0.0.1:%d", n.port)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", n.port)
}

// Seed is user's nkey seed, for a service's <SVC>_NATS_SEED.
func (n *NATS) Seed(user string) string { return n.seeds[user] }

// Seeds are every user's seeds, for a harness that starts services
// itself.
func (n *NATS) Seeds() natsauth.Seeds { return n.seeds }

// CAFile is the CA certificate a client trusts the server's with; empty
// without TLS.
func (n *NATS) CAFile() string {
	if n.ca == nil {
		return ""
	}
	return n.ca.File
}

// ClientOptions are the options to connect as user (natsauth.Admin for
// a test that publishes anywhere and inspects streams).
func (n *NATS) ClientOptions(user string) []nats.Option {
	n.t.Helper()
	opts, err := natsauth.ClientOptions(user, n.seeds[user], n.CAFile())
	if err != nil {
		n.t.Fatal(err)
	}
	return opts
}
