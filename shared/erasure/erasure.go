// Package erasure is what is left of an erased member: the keyed hash
// that stands in for their phone number or email on the consent ledger
// and the suppression list, so the address is still never texted or
// emailed (and a re-import of it is still opted out) while nothing kept
// can be read back into the address without the key.
//
// The hash is HMAC-SHA256 under a secret key (CONTACTS_ERASURE_KEY,
// DELIVERY_ERASURE_KEY): a plain hash of a phone number could be reversed
// by hashing every number there is. Losing or changing the key loses the
// link between an erased member's opt-out and their address: keep it with
// the other secrets, and never rotate it.
package erasure

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"strings"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/secret"
)

// Prefix starts every hash, so a hashed address is never mistaken for an
// address (and no address can look like one: none starts with it).
const Prefix = "erased:"

// DevKey is the key development mode uses when none is set: a fixed one,
// so an erased member stays suppressed across restarts of `make run`.
// secret.Check refuses it outside development mode.
const DevKey = "muster-dev-erasure-key-for-development-only"

// Key hashes addresses. The zero Key hashes nothing: Hash reports false.
type Key struct {
	k []byte
}

// NewKey checks the setting named name (secret.Check: required, 32+
// characters, not a development value, outside development mode) and
// builds the key; in development mode an empty value is DevKey.
func NewKey(name, value string, dev bool) (Key, error) {
	if err := secret.Check(name, value, secret.MinLength, dev); err != nil {
		return Key{}, err
	}
	if value == "" {
		value = DevKey
	}
	return Key{k: []byte(value)}, nil
}

// ErrNoKey is returned where an erasure is asked of a service without a
// key.
var ErrNoKey = errors.New("no erasure key is configured")

// Set reports whether the key can hash.
func (k Key) Set() bool { return len(k.k) > 0 }

// Hash is the keyed hash of an address on a channel: "erased:" and 64 hex
// digits. The address is compared as the services store it (E.164 phone
// numbers, lower-cased emails); surrounding space and an email's case are
// ignored so a re-import typed differently still matches.
func (k Key) Hash(ch events.Channel, address string) (string, bool) {
	return k.Hasher().Hash(ch, address)
}

// Hasher hashes many addresses with one HMAC state, reset between them:
// a batch of a thousand emails checked against the suppression list
// would otherwise build a thousand (two SHA-256 states and the padded key
// each). It is not safe for concurrent use.
func (k Key) Hasher() *Hasher {
	if !k.Set() {
		return &Hasher{}
	}
	return &Hasher{mac: hmac.New(sha256.New, k.k)}
}

// Hasher is Key.Hash for one goroutine at a time.
type Hasher struct {
	mac hash.Hash // nil for the zero key
	sum []byte
}

// Hash is Key.Hash.
func (h *Hasher) Hash(ch events.Channel, address string) (string, bool) {
	if h.mac == nil || address == "" {
		return "", false
	}
	address = strings.TrimSpace(address)
	if ch == events.ChannelEmail {
		address = strings.ToLower(address)
	}
	h.mac.Reset()
	h.mac.Write([]byte(ch))
	h.mac.Write([]byte{0})
	h.mac.Write([]byte(address))
	h.sum = h.mac.Sum(h.sum[:0])
	out := make([]byte, len(Prefix)+hex.EncodedLen(len(h.sum)))
	copy(out, Prefix)
	hex.Encode(out[len(Prefix):], h.sum)
	return string(out), true
}

// IsHash reports whether s is a hashed address.
func IsHash(s string) bool { return strings.HasPrefix(s, Prefix) }
