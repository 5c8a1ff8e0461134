// Package prefs is the members' preferences page: a link (texted for
// PREFS, in every campaign email's footer) that opens a phone-friendly
// form, with no login, to choose the hours they may be texted, pause
// texts, ask for fewer, and pick their language and channels. The link
// holds a sealed token: the address is encrypted and authenticated, so
// no personal data is in the URL, and it expires (30 days), since unlike
// an unsubscribe link it changes more than one thing.
package prefs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/musterhq/muster/shared/secret"
)

// Pattern is the page's route; Prefix starts every link.
const (
	Pattern = "/prefs/{token}"
	Prefix  = "/prefs/"
)

// TTL is how long a link opens the page.
const TTL = 30 * 24 * time.Hour

// tokenV1 starts every token, so a token of another purpose (an
// unsubscribe link's starts "2.") is never mistaken for one.
const tokenV1 = "p1."

// Signer makes and checks preference tokens. It shares the unsubscribe
// keyring (DELIVERY_UNSUBSCRIBE_SECRET and _PREVIOUS) but seals under a key
// derived for this purpose alone, so neither kind of token opens the other
// page.
type Signer struct {
	keys      secret.Keyring
	publicURL string
	now       func() time.Time
	// sealID and seal are the current key's id and cipher, made once:
	// deriving the key and expanding it for AES cost more than sealing,
	// and every email of a batch seals a token.
	sealID secret.KeyID
	seal   cipher.AEAD
}

// NewSigner builds a signer; links are built on publicURL and expire by
// now (the service's clock).
func NewSigner(keys secret.Keyring, publicURL string, now func() time.Time) *Signer {
	s := &Signer{keys: keys, publicURL: strings.TrimRight(publicURL, "/"), now: now}
	if len(keys.All()) > 0 {
		var key []byte
		s.sealID, key = keys.Current()
		s.seal = aead(key)
	}
	return s
}

// Token seals an address with its expiry, under the current key.
func (s *Signer) Token(address string) string {
	id := s.sealID
	plain := make([]byte, 8, 8+len(address))
	binary.BigEndian.PutUint64(plain, uint64(s.now().Add(TTL).Unix()))
	plain = append(plain, address...)
	b := make([]byte, secret.KeyIDLength+12, secret.KeyIDLength+12+len(plain)+16)
	copy(b, id[:])
	nonce := b[secret.KeyIDLength:]
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails on supported platforms
	b = s.seal.Seal(b, nonce, plain, id[:])
	return tokenV1 + base64.RawURLEncoding.EncodeToString(b)
}

// URL is the preferences link for an address.
func (s *Signer) URL(address string) string { return s.publicURL + Prefix + s.Token(address) }

// Errors Parse returns: a link altered or not made here, and one past its
// expiry.
var (
	ErrBadToken = errors.New("preferences link is not valid")
	ErrExpired  = errors.New("preferences link has expired")
)

// Parse checks a token and returns its address.
func (s *Signer) Parse(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenV1)
	if !ok {
		return "", ErrBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < secret.KeyIDLength+12+16+8 {
		return "", ErrBadToken
	}
	var id secret.KeyID
	copy(id[:], b)
	key, ok := s.keys.Lookup(id)
	if !ok {
		return "", ErrBadToken
	}
	nonce, sealed := b[secret.KeyIDLength:secret.KeyIDLength+12], b[secret.KeyIDLength+12:]
	plain, err := aead(key).Open(nil, nonce, sealed, id[:])
	if err != nil || len(plain) <= 8 {
		return "", ErrBadToken
	}
	if expiry := time.Unix(int64(binary.BigEndian.Uint64(plain)), 0); !s.now().Before(expiry) {
		return "", ErrExpired
	}
	return string(plain[8:]), nil
}

// aead is AES-256-GCM under a key derived from a keyring key for this
// purpose: never the raw secret, never the unsubscribe links' key.
func aead(key []byte) cipher.AEAD {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("muster preferences token v1"))
	block, _ := aes.NewCipher(m.Sum(nil)) // a 32-byte key is always valid
	gcm, _ := cipher.NewGCM(block)        // the standard nonce size is always valid
	return gcm
}
