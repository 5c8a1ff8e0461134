package unsubscribe

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

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

var ana = Subject{Address: "ana.lopez@union.example", MessageID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}

// A link names no address anyone could read: not in the URL, not in a
// proxy's log, not in a forwarded email.
func TestLinksCarryNoAddressInClear(t *testing.T) {
	link := NewSigner(keyring(t, newKey), "https://act.example.org").URL(ana)
	// Neither the address nor its base64 (at any alignment) is in the
	// link, nor the address's bytes in the decoded token.
	leaks := []string{ana.Address, "ana.lopez", "union.example"}
	for i := range 3 {
		leaks = append(leaks, base64.RawURLEncoding.EncodeToString([]byte(ana.Address[i:]))[:12])
	}
	for _, leak := range leaks {
		if strings.Contains(link, leak) {
			t.Fatalf("link %s shows %q", link, leak)
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(link, "https://act.example.org/unsubscribe?t=2."))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "ana.lopez") {
		t.Fatal("the token holds the address unsealed")
	}
	got, err := NewSigner(keyring(t, newKey), "").Parse(strings.TrimPrefix(link, "https://act.example.org/unsubscribe?t="))
	if err != nil || got != ana {
		t.Fatalf("parse = %+v, %v", got, err)
	}
}

// Rotating the key keeps links in old emails working, as long as the old
// key stays on the ring.
func TestOldLinksOpenAfterRotation(t *testing.T) {
	sent := NewSigner(keyring(t, oldKey), "").Token(ana)
	if got, err := NewSigner(keyring(t, newKey, oldKey), "").Parse(sent); err != nil || got != ana {
		t.Fatalf("an old link after rotation = %+v, %v", got, err)
	}
	if _, err := NewSigner(keyring(t, newKey), "").Parse(sent); !errors.Is(err, ErrBadToken) {
		t.Fatalf("a link of a dropped key = %v, want ErrBadToken", err)
	}
	// A link from before sealing (the address in base64 with an HMAC)
	// still opens.
	payload := base64.RawURLEncoding.EncodeToString([]byte(ana.Address + "\n" + ana.MessageID))
	v1 := payload + "." + macV1([]byte(oldKey), payload)
	if got, err := NewSigner(keyring(t, newKey, oldKey), "").Parse(v1); err != nil || got != ana {
		t.Fatalf("a version 1 link = %+v, %v", got, err)
	}
}

func TestTamperedLinksAreRefused(t *testing.T) {
	s := NewSigner(keyring(t, newKey), "")
	tok := s.Token(ana)
	for i := len(tokenV2); i < len(tok); i++ {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if got, err := s.Parse(string(b)); err == nil && got != ana {
			t.Fatalf("tampered token at %d opened as %+v", i, got)
		}
	}
	for _, bad := range []string{"", "2.", "2.AAAA", "x.y", tok[:20]} {
		if _, err := s.Parse(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("Parse(%q) = %v, want ErrBadToken", bad, err)
		}
	}
}
