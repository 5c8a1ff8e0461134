// Package secret checks the secrets a service is configured with and
// holds the keys it signs links with. Outside development mode a secret
// must be set, long enough, and not a value that ships with Muster's
// development tooling; inside it (the mode `make run` uses) a missing one
// may be generated. Keys carry an id, so a key can be rotated without
// breaking the links already sent.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// MinLength is the shortest signing key accepted: 32 bytes, the size of
// the HMAC-SHA256 output it keys.
const MinLength = 32

// The credentials the provider simulator accepts by default, so a service
// can refuse them without linking the simulator in (the simulator is its
// own module; delivery's tests hold the two copies equal).
const (
	SimulatorAccountSID  = "AC00000000000000000000000000000000"
	SimulatorAuthToken   = "simtoken0000000000000000000000000"
	SimulatorSendGridKey = "SG.test"
)

// IsDevelopmentValue reports whether v looks like a value from Muster's
// development tooling or documentation rather than a generated secret:
// one of the simulator's credentials, or a value holding a word those
// values use, so it was copied from there.
func IsDevelopmentValue(v string) bool {
	switch v {
	case SimulatorAccountSID, SimulatorAuthToken, SimulatorSendGridKey:
		return true
	}
	l := strings.ToLower(v)
	for _, m := range []string{"dev-only", "dev-secret", "muster-dev", "development", "changeme", "change-me", "insecure", "example", "test-secret", "not-a-secret"} {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// Check refuses a secret that is missing, shorter than min bytes, or a
// development value, naming the variable. In development mode every
// value passes: the caller generates what is missing.
func Check(name, value string, min int, dev bool) error {
	switch {
	case dev:
		return nil
	case value == "":
		return fmt.Errorf("%s is required (development mode, DEV_MODE, is off)", name)
	case len(value) < min:
		return fmt.Errorf("%s must be at least %d characters", name, min)
	case IsDevelopmentValue(value):
		return fmt.Errorf("%s is a known development value; generate a real secret (for example: openssl rand -base64 48)", name)
	}
	return nil
}

// Generate returns a random secret of MinLength bytes, base64 encoded,
// for development mode.
func Generate() string {
	b := make([]byte, MinLength+16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// KeyIDLength is how many bytes a key id takes in a token.
const KeyIDLength = 4

// KeyID names a key without revealing it: the first bytes of a hash of it.
type KeyID [KeyIDLength]byte

// Keyring is a service's signing keys: the current one signs, and every
// one verifies, so an operator rotates a key by making it current and
// keeping the old one as previous until the links signed with it have
// expired (or, for unsubscribe links, for good).
type Keyring struct {
	keys []key // the current key first
}

type key struct {
	id     KeyID
	secret []byte
}

// IDOf is a key's id.
func IDOf(secret []byte) KeyID {
	sum := sha256.Sum256(append([]byte("muster key id\n"), secret...))
	var id KeyID
	copy(id[:], sum[:])
	return id
}

// NewKeyring builds a keyring from the current key and any previous ones.
// Every key must be at least MinLength bytes, and no two may share an id.
func NewKeyring(current []byte, previous ...[]byte) (Keyring, error) {
	var k Keyring
	seen := map[KeyID]bool{}
	for i, s := range append([][]byte{current}, previous...) {
		if len(s) < MinLength {
			if i == 0 {
				return Keyring{}, fmt.Errorf("the current key must be at least %d bytes", MinLength)
			}
			return Keyring{}, fmt.Errorf("previous key %d must be at least %d bytes", i, MinLength)
		}
		id := IDOf(s)
		if seen[id] {
			return Keyring{}, errors.New("a key is listed twice")
		}
		seen[id] = true
		k.keys = append(k.keys, key{id: id, secret: append([]byte(nil), s...)})
	}
	return k, nil
}

// Current is the key new tokens are signed with, and its id.
func (k Keyring) Current() (KeyID, []byte) { return k.keys[0].id, k.keys[0].secret }

// Lookup finds a key by its id.
func (k Keyring) Lookup(id KeyID) ([]byte, bool) {
	for _, c := range k.keys {
		if c.id == id {
			return c.secret, true
		}
	}
	return nil, false
}

// All lists every key, the current one first: for tokens made before keys
// had ids, which any of them may have signed.
func (k Keyring) All() [][]byte {
	out := make([][]byte, len(k.keys))
	for i, c := range k.keys {
		out[i] = c.secret
	}
	return out
}

// SplitList reads a comma-separated list of previous keys, dropping blanks.
func SplitList(s string) [][]byte {
	var out [][]byte
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, []byte(p))
		}
	}
	return out
}
