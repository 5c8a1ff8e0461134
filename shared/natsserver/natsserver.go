// Package natsserver runs an embedded NATS server with JetStream, so that
// `make run` and the tests need no NATS installed. Production runs a real
// NATS cluster instead (see deployments/). Either way clients must
// authenticate as a user of the natsauth table and may use only its
// subjects.
package natsserver

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/musterhq/muster/shared/natsauth"
)

// Config says where an embedded server listens and who may connect.
type Config struct {
	// Host and Port to listen on; port -1 picks a free one.
	Host string
	Port int
	// StoreDir keeps the streams.
	StoreDir string
	// Keys are the users' public nkeys by user name
	// (natsauth.Seeds.PublicKeys); every user of the table needs one.
	Keys map[string]string
	// TLS, when set, is required of every client.
	TLS *tls.Config
}

// Run starts a JetStream server as cfg says and waits until it takes
// clients.
func Run(cfg Config) (*server.Server, error) {
	opts := &server.Options{
		Host:      cfg.Host,
		Port:      cfg.Port,
		JetStream: true,
		StoreDir:  cfg.StoreDir,
		NoSigs:    true,
		// Room for benchmarks on a developer machine.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  8 << 30,
	}
	if err := Authorize(opts, cfg.Keys); err != nil {
		return nil, err
	}
	if cfg.TLS != nil {
		opts.TLSConfig, opts.TLS, opts.TLSTimeout = cfg.TLS, true, 2
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configuring nats server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("nats server not ready on %s:%d", cfg.Host, cfg.Port)
	}
	return srv, nil
}

// Authorize sets opts' users from the natsauth table, each identified by
// its public key in keys. A user without a key is an error, not an open
// door: anonymous clients are refused whatever else opts say.
func Authorize(opts *server.Options, keys map[string]string) error {
	opts.Nkeys = nil
	opts.Users = nil
	opts.NoAuthUser = ""
	for _, u := range natsauth.Users() {
		key, ok := keys[u.Name]
		if !ok || key == "" {
			return fmt.Errorf("no public nkey for nats user %s", u.Name)
		}
		p := u.Permissions()
		perms := &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: p.Publish},
			Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
		}
		if p.Responses {
			// nats-server's defaults for allow_responses: one reply per
			// request, within two minutes.
			perms.Response = &server.ResponsePermission{MaxMsgs: server.DEFAULT_ALLOW_RESPONSE_MAX_MSGS, Expires: server.DEFAULT_ALLOW_RESPONSE_EXPIRATION}
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: key, Permissions: perms})
	}
	return nil
}

// Port is the port a running server listens on.
func Port(srv *server.Server) int { return srv.Addr().(*net.TCPAddr).Port }
