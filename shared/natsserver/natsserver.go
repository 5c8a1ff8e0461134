// Package natsserver runs an embedded NATS server with JetStream, so that
// `make run` and the tests need no NATS installed. Production runs a real
// NATS cluster instead (see deployments/).
package natsserver

import (
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Run starts a JetStream server on host:port (port -1 picks a free one)
// storing its streams under storeDir, and waits until it takes clients.
func Run(host string, port int, storeDir string) (*server.Server, error) {
	srv, err := server.NewServer(&server.Options{
		Host:      host,
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoSigs:    true,
		// Room for benchmarks on a developer machine.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  8 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("configuring nats server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server not ready on %s:%d", host, port)
	}
	return srv, nil
}

// Port is the port a running server listens on.
func Port(srv *server.Server) int { return srv.Addr().(*net.TCPAddr).Port }
