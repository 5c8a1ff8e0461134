// Package cluster runs Muster as production does, for the fault-injection
// suite and the scale benchmarks: a three-node NATS JetStream cluster, the
// real service binaries as separate processes (several replicas of
// campaigns and delivery), the provider simulator as a process of its own,
// PostgreSQL and Redis. A test drives a campaign through it, breaks a part
// of it, and then accounts for every intended message.
package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/natsserver"
	"github.com/musterhq/muster/shared/testkit"
)

// NATS is a JetStream cluster of embedded servers on loopback ports. Each
// node keeps its ports and store across Stop and Start, as a restarted
// pod keeps its volume. As deployed (deployments/nats): clients must use
// TLS and authenticate as a user of the natsauth table, and the nodes'
// routes use mutual TLS with certificates from one CA.
type NATS struct {
	t     testing.TB
	nodes []*natsNode
	seeds natsauth.Seeds
	keys  map[string]string
	ca    *testkit.CA
	// clientTLS is what clients are served; routeTLS what nodes present
	// to and require of each other.
	clientTLS, routeTLS *tls.Config
	// fsync makes each node write a message to disk before acknowledging
	// it, as deployed.
	fsync bool
}

type natsNode struct {
	name            string
	port, routePort int
	dir             string
	srv             *server.Server
}

// StartNATS starts a cluster of size nodes and waits until JetStream has a
// meta leader. A size of one is a single server with no cluster at all,
// as make run's.
func StartNATS(t testing.TB, size int) *NATS {
	t.Helper()
	return startNATS(t, size, true)
}

// startNATS is StartNATS, with fsync on every write as deployed or not.
func startNATS(t testing.TB, size int, fsync bool) *NATS {
	t.Helper()
	seeds, err := natsauth.NewSeeds()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seeds.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	ca := testkit.NewCA(t)
	n := &NATS{t: t, seeds: seeds, keys: keys, ca: ca, fsync: fsync,
		clientTLS: ca.ServerTLS(t, "127.0.0.1", "localhost"), routeTLS: ca.MutualTLS(t, "127.0.0.1", "localhost")}
	t.Cleanup(n.StopAll)
	// A free port can be taken by another test's server before a node
	// binds it; then the nodes start again on fresh ports.
	for attempt := 1; ; attempt++ {
		n.nodes = nil
		for i := range size {
			n.nodes = append(n.nodes, &natsNode{
				name: fmt.Sprintf("nats-%d", i+1), port: testkit.FreePort(t), routePort: testkit.FreePort(t), dir: t.TempDir(),
			})
		}
		err := n.startAll()
		if err == nil {
			break
		}
		n.StopAll()
		if attempt == 3 {
			t.Fatal(err)
		}
	}
	n.waitJetStream()
	return n
}

func (n *NATS) startAll() error {
	for i := range n.nodes {
		if n.nodes[i].srv == nil {
			if err := n.start(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// URLs is the client URL list services connect with, comma-separated.
func (n *NATS) URLs() string {
	urls := make([]string, len(n.nodes))
	for i, node := range n.nodes {
		urls[i] = fmt.Sprintf("tls://127.0.0.1:%d", node.port)
	}
	return strings.Join(urls, ",")
}

// Env is how a service process (environment prefix CONTACTS_, ...)
// connects: as its own user, trusting the cluster's CA.
func (n *NATS) Env(prefix string) []string {
	user := strings.ToLower(strings.TrimSuffix(prefix, "_"))
	return []string{prefix + "NATS_URL=" + n.URLs(), prefix + "NATS_SEED=" + n.seeds[user], prefix + "NATS_CA_FILE=" + n.ca.File}
}

// ClientOptions connect as user (natsauth.Admin for the suite's own
// look at the streams).
func (n *NATS) ClientOptions(user string) []nats.Option {
	n.t.Helper()
	opts, err := natsauth.ClientOptions(user, n.seeds[user], n.ca.File)
	if err != nil {
		n.t.Fatal(err)
	}
	return opts
}

// StartAll starts every stopped node and waits for the cluster to serve
// JetStream requests again.
func (n *NATS) StartAll() {
	n.t.Helper()
	if err := n.startAll(); err != nil {
		n.t.Fatal(err)
	}
	n.waitJetStream()
}

// StopAll shuts every node down.
func (n *NATS) StopAll() {
	for i := range n.nodes {
		n.Stop(i)
	}
}

// Start starts node i on its ports and store.
func (n *NATS) Start(i int) {
	n.t.Helper()
	if err := n.start(i); err != nil {
		n.t.Fatal(err)
	}
}

func (n *NATS) start(i int) error {
	node := n.nodes[i]
	var routes []string
	for j, other := range n.nodes {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", other.routePort))
		}
	}
	opts := &server.Options{
		ServerName: node.name, Host: "127.0.0.1", Port: node.port,
		JetStream: true, StoreDir: node.dir, NoSigs: true,
		JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 8 << 30,
		// As deployments/nats/cluster.conf: fsync before acknowledging,
		// TLS for clients, mutual TLS between nodes.
		SyncAlways: n.fsync,
		TLS:        true, TLSConfig: n.clientTLS, TLSTimeout: 2,
	}
	if len(n.nodes) > 1 {
		opts.Cluster = server.ClusterOpts{Name: "muster", Host: "127.0.0.1", Port: node.routePort,
			TLSConfig: n.routeTLS, TLSTimeout: 2}
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
	}
	if err := natsserver.Authorize(opts, n.keys); err != nil {
		return err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("configuring %s: %w", node.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("%s not ready on port %d", node.name, node.port)
	}
	node.srv = srv
	return nil
}

// Stop shuts node i down, as a SIGKILL would look to its peers and
// clients: connections drop and its raft groups lose a member.
func (n *NATS) Stop(i int) {
	node := n.nodes[i]
	if node.srv == nil {
		return
	}
	node.srv.Shutdown()
	node.srv.WaitForShutdown()
	node.srv = nil
}

// StreamLeader is the index of the node leading stream, or -1 when no
// running node leads it (an election is under way).
func (n *NATS) StreamLeader(stream string) int {
	for i, node := range n.nodes {
		if node.srv != nil && node.srv.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// waitJetStream waits until a client can read account info, which needs
// a JetStream meta leader.
func (n *NATS) waitJetStream() {
	n.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = n.ping(); last == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	n.t.Fatalf("jetstream cluster not ready after 60s: %v", last)
}

func (n *NATS) ping() error {
	nc, err := nats.Connect(n.URLs(), append(n.ClientOptions(natsauth.Admin), nats.Timeout(2*time.Second))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}
