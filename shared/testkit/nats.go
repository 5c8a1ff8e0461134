// Package testkit gives each test real, isolated infrastructure: an
// embedded NATS server with JetStream in a temp dir, a fresh PostgreSQL
// database cloned from a migrated template, and a Redis key prefix of its
// own. Nothing is mocked.
package testkit

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/musterhq/muster/shared/natsserver"
)

// NATS is an embedded NATS server with JetStream that a test can stop and
// start again on the same port and store, to prove recovery.
type NATS struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// StartNATS starts an embedded JetStream server on a free loopback port
// with its store in a temp dir; it is shut down when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	n := &NATS{t: t, dir: t.TempDir(), port: -1}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// Start (re)starts the server on the same port and store directory.
func (n *NATS) Start() {
	n.t.Helper()
	srv, err := natsserver.Run("127.0.0.1", n.port, n.dir)
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
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }
