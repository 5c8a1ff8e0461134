package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/testkit"
)

// The suite's cluster is locked as the deployed one is: replicated
// streams work over TLS routes, a client needs a key, and a node whose
// certificate the cluster's CA did not sign cannot join.
func TestClusterRequiresKeysAndCertificates(t *testing.T) {
	n := StartNATS(t, 3)
	ctx := context.Background()
	nc, err := nats.Connect(n.URLs(), n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ROUTES", Subjects: []string{"routes.>"}, Replicas: 3}); err != nil {
		t.Fatalf("a three-replica stream over TLS routes: %v", err)
	}
	if _, err := js.Publish(ctx, "routes.x", []byte("x")); err != nil {
		t.Fatal(err)
	}

	if nc, err := nats.Connect(n.URLs(), nats.RootCAs(n.ca.File)); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous client over TLS: %v, want an authorization violation", err)
	}

	// A node with a certificate of its own making, routing to the first.
	rogueCA := testkit.NewCA(t)
	rogue, err := server.NewServer(&server.Options{
		ServerName: "rogue", Host: "127.0.0.1", Port: -1, NoSigs: true,
		Cluster: server.ClusterOpts{Name: "muster", Host: "127.0.0.1", Port: -1,
			TLSConfig: rogueCA.MutualTLS(t, "127.0.0.1"), TLSTimeout: 2},
		Routes: server.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", n.nodes[0].routePort)),
	})
	if err != nil {
		t.Fatal(err)
	}
	go rogue.Start()
	defer rogue.Shutdown()
	if !rogue.ReadyForConnections(10 * time.Second) {
		t.Fatal("rogue node did not start")
	}
	time.Sleep(2 * time.Second) // several route attempts
	if r := rogue.NumRoutes(); r != 0 {
		t.Fatalf("a node without the cluster's certificate has %d routes", r)
	}
}
