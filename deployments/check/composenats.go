package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// composeTLSDir is where docker-compose.yml mounts the NATS nodes'
// certificates (.nats-tls: tls.crt, tls.key, ca.crt).
const composeTLSDir = "/etc/nats/tls/"

// nkeyVariable is a user's public nkey read from the environment, as the
// authorization block shared/natsauth renders names them.
var nkeyVariable = regexp.MustCompile(`\$(NATS_[A-Z0-9_]+_NKEY)\b`)

// loadComposeNATSConfig loads a compose node's configuration as the node
// would see it: beside the files of its directory (an include finds
// them), with NATS_SERVER_NAME set, a fresh user public key in each
// $NATS_<USER>_NKEY it reads, and a throwaway certificate wherever it
// reads one from the compose mount, so nats-server can parse and check
// every block offline.
func loadComposeNATSConfig(path string) (*server.Options, error) {
	dir, err := os.MkdirTemp("", "nats-compose-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	env := map[string]string{"NATS_SERVER_NAME": "nats-1"}
	tlsDir := filepath.Join(dir, "tls") + "/"
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
		if err != nil {
			return nil, err
		}
		text := strings.ReplaceAll(string(data), composeTLSDir, tlsDir)
		for _, m := range nkeyVariable.FindAllStringSubmatch(text, -1) {
			if _, ok := env[m[1]]; !ok {
				kp, err := nkeys.CreateUser()
				if err != nil {
					return nil, err
				}
				if env[m[1]], err = kp.PublicKey(); err != nil {
					return nil, err
				}
			}
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	ca, cert, key, err := throwawayTLS([]string{"nats-1", "nats-2", "nats-3"})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	for name, data := range map[string][]byte{tlsCA: ca, tlsCert: cert, tlsKey: key} {
		if err := os.WriteFile(filepath.Join(tlsDir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	opts, err := loadNATSConfig(filepath.Join(dir, filepath.Base(path)), env)
	if err != nil {
		// Name the real files, not their copies.
		return nil, errors.New(strings.ReplaceAll(err.Error(), dir, filepath.Dir(path)))
	}
	return opts, nil
}
