package svcauth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Signer makes the tokens one calling service sends. A token is reused
// until half its life is gone, so a busy caller signs about once a
// minute per service it calls, not once per request.
type Signer struct {
	name string
	key  ed25519.PrivateKey
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cachedToken
}

type cachedToken struct {
	token             string
	issued, refreshAt time.Time
}

// NewSigner makes tokens that say they come from name, signed with key,
// dated by now.
func NewSigner(name string, key ed25519.PrivateKey, now func() time.Time) (*Signer, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("no Ed25519 private key")
	}
	return &Signer{name: name, key: key, now: now, cache: map[string]cachedToken{}}, nil
}

// Token is a token for calling the service named audience.
func (s *Signer) Token(audience string) (string, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// A clock set back (a test, a corrected host) makes a new token too.
	if c, ok := s.cache[audience]; ok && now.Before(c.refreshAt) && !now.Before(c.issued) {
		return c.token, nil
	}
	tok, err := s.sign(audience, now, TTL)
	if err != nil {
		return "", err
	}
	s.cache[audience] = cachedToken{token: tok, issued: now, refreshAt: now.Add(TTL / 2)}
	return tok, nil
}

func (s *Signer) sign(audience string, now time.Time, ttl time.Duration) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    s.name,
		Audience:  jwt.ClaimStrings{audience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("signing a token for %s: %w", audience, err)
	}
	return tok, nil
}

// Authorize sets r's Authorization header to a token for audience.
func (s *Signer) Authorize(r *http.Request, audience string) error {
	tok, err := s.Token(audience)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// Transport is base (http.DefaultTransport when nil) with a token for
// audience added to every request.
func (s *Signer) Transport(audience string, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{signer: s, audience: audience, base: base}
}

type transport struct {
	signer   *Signer
	audience string
	base     http.RoundTripper
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	tok, err := t.signer.Token(t.audience)
	if err != nil {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, err
	}
	// A RoundTripper must not change the caller's request.
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r)
}

// Verifier checks the tokens sent to one service.
type Verifier struct {
	trusted Trusted
	parser  *jwt.Parser
}

// NewVerifier accepts tokens for the service called name from the
// trusted callers, judging expiry by now.
func NewVerifier(name string, trusted Trusted, now func() time.Time) (*Verifier, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	parser := jwt.NewParser(
		// The algorithm is fixed: a token cannot choose "none" or an
		// HMAC keyed with a public key.
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithAudience(name),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithStrictDecoding(),
	)
	return &Verifier{trusted: trusted, parser: parser}, nil
}

// The reasons a token is refused, for tests and logs; callers get one
// answer whatever the reason.
var (
	ErrNoToken     = errors.New("no service token")
	ErrUntrusted   = errors.New("issuer is not a trusted caller")
	ErrBadToken    = errors.New("service token not valid")
	ErrTooLongLife = errors.New("service token lives longer than allowed")
)

// Verify checks a token and returns the caller it names: signed by one of
// that caller's keys, for this service only, issued-at and expiry present
// and at most MaxTTL apart, not expired and not issued in the future
// (each within Leeway).
func (v *Verifier) Verify(token string) (string, error) {
	if token == "" {
		return "", ErrNoToken
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) {
		// The issuer is read before the signature is checked, only to
		// pick the keys that must have made it.
		keys := v.trusted[c.Issuer]
		if len(keys) == 0 {
			return nil, ErrUntrusted
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, len(keys))}
		for i, k := range keys {
			set.Keys[i] = k
		}
		return set, nil
	})
	switch {
	case errors.Is(err, ErrUntrusted):
		return "", fmt.Errorf("%w: %q", ErrUntrusted, c.Issuer)
	case err != nil:
		return "", fmt.Errorf("%w: %w", ErrBadToken, err)
	}
	return c.Issuer, nil
}

// claims are the registered claims with the rules the parser's options do
// not state; jwt calls Validate once the signature is good.
type claims struct {
	jwt.RegisteredClaims
}

// Validate asks for an issued-at (the parser checks one only when
// present), a single audience (a token good for several services is worth
// stealing from any of them), and a life no longer than MaxTTL.
func (c claims) Validate() error {
	if c.IssuedAt == nil || c.ExpiresAt == nil {
		return errors.New("token lacks iat or exp")
	}
	if len(c.Audience) != 1 {
		return fmt.Errorf("token names %d audiences, want one", len(c.Audience))
	}
	if life := c.ExpiresAt.Sub(c.IssuedAt.Time); life > MaxTTL {
		return fmt.Errorf("%w: %s", ErrTooLongLife, life)
	}
	return nil
}
