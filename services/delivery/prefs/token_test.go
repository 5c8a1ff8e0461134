package prefs

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/unsubscribe"
	"github.com/musterhq/muster/shared/secret"
)

func keyring(t *testing.T, keys ...string) secret.Keyring {
	t.Helper()
	var prev [][]byte
	for _, k := range keys[1:] {
		prev = append(prev, []byte(k))
	}
	k, err := secret.NewKeyring([]byte(keys[0]), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const (
	oldKey = "the old unsubscribe key, 32 bytes or more"
	newKey = "the new unsubscribe key, 32 bytes or more"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := NewSigner(keyring(t, newKey), "https://act.example.org/", clock)
	const member = "+12125550123"
	link := s.URL(member)
	if !strings.HasPrefix(link, "https://act.example.org/prefs/p1.") {
		t.Fatalf("link = %s", link)
	}
	// No number in the link, in clear or in base64 at any alignment.
	for i := range 3 {
		for _, leak := range []string{member, "5550123", base64.RawURLEncoding.EncodeToString([]byte(member[i:]))[:8]} {
			if strings.Contains(link, leak) {
				t.Fatalf("link %s shows %q", link, leak)
			}
		}
	}
	token := strings.TrimPrefix(link, "https://act.example.org/prefs/")
	if got, err := s.Parse(token); err != nil || got != member {
		t.Fatalf("parse = %q, %v", got, err)
	}
	// Every byte altered is refused.
	for i := len("p1."); i < len(token); i++ {
		b := []byte(token)
		b[i] ^= 0x01
		if _, err := s.Parse(string(b)); err == nil {
			t.Fatalf("token altered at %d accepted", i)
		}
	}
	// A rotated key still opens links already sent; a foreign key does not.
	rotated := NewSigner(keyring(t, "a third key of 32 bytes or more....", newKey), "", clock)
	if got, err := rotated.Parse(token); err != nil || got != member {
		t.Fatalf("after rotation = %q, %v", got, err)
	}
	if _, err := NewSigner(keyring(t, oldKey), "", clock).Parse(token); !errors.Is(err, ErrBadToken) {
		t.Fatalf("foreign key = %v", err)
	}
	// An unsubscribe token under the same keyring is not a preferences
	// token, and the other way round.
	unsub := unsubscribe.NewSigner(keyring(t, newKey), "").Token(unsubscribe.Subject{Address: "ana@union.example"})
	if _, err := s.Parse(unsub); !errors.Is(err, ErrBadToken) {
		t.Fatalf("unsubscribe token opened the preferences page: %v", err)
	}
	if _, err := unsubscribe.NewSigner(keyring(t, newKey), "").Parse(token); err == nil {
		t.Fatal("preferences token opened the unsubscribe page")
	}
	// Expiry by the service's clock.
	now = now.Add(TTL - time.Second)
	if _, err := s.Parse(token); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.Parse(token); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
}
