// Package svcauth authenticates calls between Muster's services over HTTP.
// A calling service holds an Ed25519 key and sends, with every request, a
// short-lived token naming itself (the issuer) and the service it calls
// (the audience), signed with that key. The called service holds the
// public keys of the callers it trusts and refuses, with 401, any request
// to its API that does not carry a valid token for it, except the few
// public routes (provider webhooks, members' link pages) it lists.
//
// Tokens are JWTs (RFC 7519) signed with EdDSA: issuer, audience,
// issued-at and expiry, at most five minutes apart. docs/security.md says
// why this and not mutual TLS or a shared secret.
package svcauth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

const (
	// TTL is how long a token the Signer makes is valid. Short, so a
	// token seen in a log or a proxy is soon worthless.
	TTL = 5 * time.Minute
	// MaxTTL is the longest life a Verifier accepts, from issued-at to
	// expiry: a caller's key can mint tokens but not long-lived ones.
	MaxTTL = 5 * time.Minute
	// Leeway is the clock difference allowed between two machines, for
	// expiry and for an issued-at in the future.
	Leeway = 30 * time.Second
)

// namePattern is what a service or caller name may look like: it shows up
// in logs and in TRUSTED_CALLERS, so it is kept plain.
var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// CheckName reports whether name may name a caller or a service.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%q is not a service name (lower-case letters, digits and -, at most 32)", name)
	}
	return nil
}

// ParsePrivateKey reads a caller's key: the base64 (standard alphabet) of
// a 32-byte Ed25519 seed, as NewKey prints it.
func ParsePrivateKey(seed string) (ed25519.PrivateKey, error) {
	raw, err := decodeKey(seed)
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.SeedSize {
		return nil, fmt.Errorf("an Ed25519 seed is %d bytes, this one is %d", ed25519.SeedSize, len(raw))
	}
	return ed25519.NewKeyFromSeed(raw), nil
}

// ParsePublicKey reads a caller's public key: the base64 of 32 bytes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := decodeKey(s)
	if err != nil {
		return nil, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("an Ed25519 public key is %d bytes, this one is %d", ed25519.PublicKeySize, len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// decodeKey reads base64 with or without padding. The error never quotes
// the input: it may be a secret.
func decodeKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("not base64")
		}
	}
	return raw, nil
}

// NewKey makes a fresh key: its seed, the secret the caller keeps, and its
// public key, what the services it calls list among their trusted callers.
func NewKey() (seed, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generating an Ed25519 key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(pub), nil
}

// PublicKey is the base64 public half of key.
func PublicKey(key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
}

// Trusted are the callers a service accepts, each with one public key, or
// two while its key is being rotated.
type Trusted map[string][]ed25519.PublicKey

// ParseTrusted reads a TRUSTED_CALLERS value: comma-separated entries
// name=key, where key is a base64 public key and several keys of one
// caller are separated by "|" (old|new during a rotation). Empty is no
// caller.
func ParseTrusted(s string) (Trusted, error) {
	t := Trusted{}
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, keys, ok := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("entry %d: want name=base64-public-key", len(t)+1)
		}
		if err := CheckName(name); err != nil {
			return nil, err
		}
		if _, dup := t[name]; dup {
			return nil, fmt.Errorf("caller %s is listed twice; list both keys as %s=old|new", name, name)
		}
		for k := range strings.SplitSeq(keys, "|") {
			pub, err := ParsePublicKey(k)
			if err != nil {
				return nil, fmt.Errorf("caller %s: %w", name, err)
			}
			t[name] = append(t[name], pub)
		}
	}
	return t, nil
}

// Names are the trusted callers' names in order, for the log.
func (t Trusted) Names() []string {
	names := make([]string, 0, len(t))
	for n := range t {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// String writes t back as ParseTrusted reads it. Public keys are not
// secrets.
func (t Trusted) String() string {
	var b strings.Builder
	for i, name := range t.Names() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteByte('=')
		for j, k := range t[name] {
			if j > 0 {
				b.WriteByte('|')
			}
			b.WriteString(base64.StdEncoding.EncodeToString(k))
		}
	}
	return b.String()
}
