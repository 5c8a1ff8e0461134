package token

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/secret"
)

// signer is a signer whose current key is the first.
func signer(t *testing.T, keys ...string) *Signer {
	t.Helper()
	var prev [][]byte
	for _, k := range keys[1:] {
		prev = append(prev, []byte(k))
	}
	k, err := secret.NewKeyring([]byte(keys[0]), prev...)
	if err != nil {
		t.Fatal(err)
	}
	return NewSigner(k)
}

func TestSignAndVerify(t *testing.T) {
	s := signer(t, "0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	cases := []Claims{
		{Purpose: Sign, Channel: events.ChannelSMS, CampaignID: "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f", ContactID: "0b7e4c1d-2a3f-4b5c-8d9e-0f1a2b3c4d5e", Expires: now.Add(time.Hour)},
		{Purpose: RSVP, Channel: events.ChannelEmail, CampaignID: "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f", ContactID: "ct-42", Expires: now.Add(24 * time.Hour)},
		{Purpose: RSVP, CampaignID: "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f", ContactID: "preview", Expires: now.Add(time.Minute)},
	}
	for _, c := range cases {
		tok := s.Sign(c)
		if strings.ContainsAny(tok, "+/=") {
			t.Errorf("token %q is not URL-safe", tok)
		}
		got, err := s.Verify(tok, now)
		if err != nil {
			t.Fatalf("Verify(%+v) = %v", c, err)
		}
		if got != c {
			t.Errorf("round trip = %+v, want %+v", got, c)
		}
	}
	if n := len(s.Sign(cases[0])); n > 80 {
		t.Errorf("a token for two UUIDs is %d characters; it must stay short enough to text", n)
	}
}

func TestVerifyRefuses(t *testing.T) {
	s := signer(t, "0123456789abcdef0123456789abcdef")
	other := signer(t, "another key, another key, another")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := Claims{Purpose: Sign, CampaignID: "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f", ContactID: "0b7e4c1d-2a3f-4b5c-8d9e-0f1a2b3c4d5e", Expires: now.Add(time.Hour)}
	tok := s.Sign(c)
	if _, err := s.Verify(tok, now.Add(time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired token: %v, want ErrExpired", err)
	}
	if _, err := s.Verify(other.Sign(c), now); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of another key: %v, want ErrInvalid", err)
	}
	for i := range tok {
		// Flip each character in turn: no single change gets through.
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		if got, err := s.Verify(string(b), now); err == nil && got != c {
			t.Fatalf("tampered token at %d verified as %+v", i, got)
		}
	}
	for _, bad := range []string{"", "x", "!!!!", tok[:10], tok + "AA"} {
		if _, err := s.Verify(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("Verify(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// A key is rotated by making a new one current and keeping the old as
// previous: links already texted still work, new ones use the new key, and
// dropping the old key ends its links.
func TestKeysRotateWithoutBreakingSentLinks(t *testing.T) {
	const oldKey, newKey = "the old key, the old key, the old", "the new key, the new key, the new"
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	c := Claims{Purpose: RSVP, Channel: events.ChannelSMS, CampaignID: "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f", ContactID: "0b7e4c1d-2a3f-4b5c-8d9e-0f1a2b3c4d5e", Expires: now.Add(time.Hour)}
	sent := signer(t, oldKey).Sign(c)
	rotated := signer(t, newKey, oldKey)
	if got, err := rotated.Verify(sent, now); err != nil || got != c {
		t.Fatalf("a link signed with the previous key = %+v, %v", got, err)
	}
	fresh := rotated.Sign(c)
	if _, err := signer(t, oldKey).Verify(fresh, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a new link verified with the old key alone: %v", err)
	}
	if _, err := signer(t, newKey).Verify(sent, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a link of a dropped key still works: %v", err)
	}
	// Links from before key ids (version 1) are checked against every key.
	v1 := []byte{versionNoKey, byte(RSVP), channelByte(c.Channel), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(v1[3:7], uint32(c.Expires.Unix()))
	v1 = appendID(appendID(v1, c.CampaignID), c.ContactID)
	v1 = append(v1, mac([]byte(oldKey), v1)...)
	if got, err := rotated.Verify(base64.RawURLEncoding.EncodeToString(v1), now); err != nil || got != c {
		t.Fatalf("a version 1 link = %+v, %v", got, err)
	}
}
