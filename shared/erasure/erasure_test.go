package erasure_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
)

const realKey = "b7Yk2rQ9vLmP4xTz8NcW1sHdF6jUe3Ga5KoR0iVy"

func TestHashIsKeyedAndStable(t *testing.T) {
	k, err := erasure.NewKey("CONTACTS_ERASURE_KEY", realKey, false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := erasure.NewKey("CONTACTS_ERASURE_KEY", realKey+"x", false)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := k.Hash(events.ChannelSMS, "+12125550101")
	if !ok || !erasure.IsHash(a) || len(a) != len(erasure.Prefix)+64 {
		t.Fatalf("hash %q (%v): want erased: and 64 hex digits", a, ok)
	}
	if strings.Contains(a, "2125550101") {
		t.Fatalf("hash %q holds the number", a)
	}
	if b, _ := k.Hash(events.ChannelSMS, " +12125550101 "); b != a {
		t.Fatalf("the same number hashed twice: %q and %q", a, b)
	}
	if b, _ := other.Hash(events.ChannelSMS, "+12125550101"); b == a {
		t.Fatal("two keys gave the same hash: the hash is not keyed")
	}
	if b, _ := k.Hash(events.ChannelEmail, "+12125550101"); b == a {
		t.Fatal("the channel is not part of the hash")
	}
	if b, _ := k.Hash(events.ChannelSMS, "+12125550102"); b == a {
		t.Fatal("two numbers gave the same hash")
	}
	e1, _ := k.Hash(events.ChannelEmail, "Ana@Local1199.org")
	e2, _ := k.Hash(events.ChannelEmail, "ana@local1199.org")
	if e1 != e2 {
		t.Fatal("an email's case changed its hash")
	}
	if erasure.IsHash("+12125550101") {
		t.Fatal("a number reads as a hash")
	}
}

func TestKeyIsRequiredOutsideDevelopmentMode(t *testing.T) {
	for _, v := range []string{"", "short", "muster-dev-erasure-key-for-development-only", erasure.DevKey} {
		if _, err := erasure.NewKey("DELIVERY_ERASURE_KEY", v, false); err == nil || !strings.Contains(err.Error(), "DELIVERY_ERASURE_KEY") {
			t.Errorf("key %q accepted outside development mode (%v)", v, err)
		}
	}
	k, err := erasure.NewKey("DELIVERY_ERASURE_KEY", "", true)
	if err != nil || !k.Set() {
		t.Fatalf("development mode without a key: %v", err)
	}
	dev, _ := erasure.NewKey("X", erasure.DevKey, true)
	a, _ := k.Hash(events.ChannelSMS, "+12125550101")
	b, _ := dev.Hash(events.ChannelSMS, "+12125550101")
	if a != b {
		t.Fatal("development mode's key changes between starts")
	}
	if _, ok := (erasure.Key{}).Hash(events.ChannelSMS, "+12125550101"); ok {
		t.Fatal("the zero key hashed")
	}
}

// A hasher reused across a batch gives every address the hash a fresh
// one gives, and that hash is still HMAC-SHA256 of the channel, a zero
// byte and the address, as the suppression list and ledger already hold.
func TestHasherReusedGivesTheStoredHashes(t *testing.T) {
	k, err := erasure.NewKey("DELIVERY_ERASURE_KEY", realKey, false)
	if err != nil {
		t.Fatal(err)
	}
	h := k.Hasher()
	for _, a := range []struct {
		ch   events.Channel
		addr string
	}{{events.ChannelEmail, "ana@local1199.org"}, {events.ChannelSMS, "+12125550101"}, {events.ChannelEmail, "Bo@Local1199.org "}} {
		got, ok := h.Hash(a.ch, a.addr)
		norm := strings.TrimSpace(a.addr)
		if a.ch == events.ChannelEmail {
			norm = strings.ToLower(norm)
		}
		m := hmac.New(sha256.New, []byte(realKey))
		m.Write([]byte(string(a.ch) + "\x00" + norm))
		if want := erasure.Prefix + hex.EncodeToString(m.Sum(nil)); !ok || got != want {
			t.Fatalf("hasher gave %q (%v) for %s %q, want %q", got, ok, a.ch, a.addr, want)
		}
	}
	if got, ok := (erasure.Key{}).Hasher().Hash(events.ChannelSMS, "+12125550101"); ok || got != "" {
		t.Fatalf("the zero key hashed: %q", got)
	}
}
