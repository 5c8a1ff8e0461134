package token

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

func TestSignAndVerify(t *testing.T) {
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
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
	s := NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	other := NewSigner([]byte("another key, another key, another"))
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
