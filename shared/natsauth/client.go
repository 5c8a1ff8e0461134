package natsauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// ClientOptions are the nats.Options a client connects as user with:
// the user's nkey (from its seed), its inbox prefix, and, when caFile is
// set, TLS that trusts the servers' certificates signed by that CA. An
// unknown user, or a seed that is not a user seed, is refused here, at
// start-up, rather than by the server later.
func ClientOptions(user, seed, caFile string) ([]nats.Option, error) {
	u, ok := Lookup(user)
	if !ok {
		return nil, fmt.Errorf("no nats user %q in the permission table", user)
	}
	kp, err := ParseSeed(seed)
	if err != nil {
		return nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("reading the nats nkey: %w", err)
	}
	opts := []nats.Option{
		nats.Nkey(pub, kp.Sign),
		nats.CustomInboxPrefix(u.InboxPrefix()),
	}
	if caFile != "" {
		pool, err := loadCA(caFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

// ParseSeed reads a user nkey seed (it starts with "SU"), refusing
// anything else, so a misplaced public key or account seed is caught at
// start-up.
func ParseSeed(seed string) (nkeys.KeyPair, error) {
	seed = strings.TrimSpace(seed)
	if seed == "" {
		return nil, errors.New("no nats nkey seed")
	}
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return nil, fmt.Errorf("reading the nats nkey seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("reading the nats nkey seed: %w", err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return nil, errors.New("the nats nkey seed is not a user seed (SU...)")
	}
	return kp, nil
}

func loadCA(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the nats ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the nats ca file %s holds no PEM certificate", file)
	}
	return pool, nil
}

// Seeds holds one user nkey seed per user name: what make run and the
// tests generate at start, and what `natskeys` prints for a deployment.
// Seeds are secrets; never log them.
type Seeds map[string]string

// NewSeeds makes a fresh key pair for every user of the table.
func NewSeeds() (Seeds, error) {
	s := Seeds{}
	for _, u := range Users() {
		kp, err := nkeys.CreateUser()
		if err != nil {
			return nil, fmt.Errorf("making an nkey for %s: %w", u.Name, err)
		}
		seed, err := kp.Seed()
		if err != nil {
			return nil, fmt.Errorf("making an nkey for %s: %w", u.Name, err)
		}
		s[u.Name] = string(seed)
	}
	return s, nil
}

// PublicKeys are the public halves of the seeds, by user name: all a
// server needs to know.
func (s Seeds) PublicKeys() (map[string]string, error) {
	keys := make(map[string]string, len(s))
	for name, seed := range s {
		kp, err := ParseSeed(seed)
		if err != nil {
			return nil, fmt.Errorf("nkey of %s: %w", name, err)
		}
		if keys[name], err = kp.PublicKey(); err != nil {
			return nil, fmt.Errorf("nkey of %s: %w", name, err)
		}
	}
	return keys, nil
}

// SeedVariable is the environment variable a user's seed is configured
// in: CONTACTS_NATS_SEED for contacts (a service reads it under its own
// prefix), ADMIN_NATS_SEED for the admin user.
func SeedVariable(user string) string { return strings.ToUpper(user) + "_NATS_SEED" }

// Env writes the seeds and their public keys as an environment file, one
// VARIABLE=value a line in the table's order: the seeds under
// SeedVariable for the services, the public keys under KeyVariable for
// the NATS servers. Compose reads it as .env and kubectl as
// --from-env-file.
func (s Seeds) Env() (string, error) {
	keys, err := s.PublicKeys()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, u := range Users() {
		seed, ok := s[u.Name]
		if !ok {
			return "", fmt.Errorf("no nkey for nats user %s", u.Name)
		}
		fmt.Fprintf(&b, "%s=%s\n%s=%s\n", SeedVariable(u.Name), seed, KeyVariable(u.Name), keys[u.Name])
	}
	return b.String(), nil
}

// ReadSeeds reads the seeds back from an environment file Env wrote
// (other lines are ignored), requiring one for every user.
func ReadSeeds(env string) (Seeds, error) {
	s := Seeds{}
	for line := range strings.Lines(env) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		for _, u := range Users() {
			if name == SeedVariable(u.Name) {
				s[u.Name] = strings.TrimSpace(value)
			}
		}
	}
	for _, u := range Users() {
		if _, err := ParseSeed(s[u.Name]); err != nil {
			return nil, fmt.Errorf("%s: %w", SeedVariable(u.Name), err)
		}
	}
	return s, nil
}
