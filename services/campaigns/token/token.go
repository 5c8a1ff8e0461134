// Package token makes and checks the signed tokens in members' one-click
// links (RSVP, signing a petition). A token names the campaign, the
// member and what the link does, carries its expiry, and is signed with
// HMAC-SHA256, so a member needs no login and nobody can forge a link for
// someone else. Tokens are short (under 80 characters) because they are
// texted. Version 2 tokens name the key that signed them, so keys rotate
// without breaking the links already sent.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/secret"
)

// Purpose is what a link does.
type Purpose byte

// Link purposes. A token made for one is refused for the other.
const (
	RSVP Purpose = 1
	Sign Purpose = 2
)

// Claims are what a token says.
type Claims struct {
	Purpose Purpose
	// Channel is the channel the link was sent on, so an answer by link
	// is recorded with it.
	Channel    events.Channel
	CampaignID string
	ContactID  string
	Expires    time.Time
}

// Errors a link's owner sees explained on the page.
var (
	ErrInvalid = errors.New("the link is not valid")
	ErrExpired = errors.New("the link has expired")
)

const (
	// version 1 tokens (before key ids) are still accepted, checked
	// against every key; version 2 adds a one-byte key hint after the
	// version: the first byte of the signing key's id. One byte keeps a
	// texted link under 80 characters; two keys sharing a hint just both
	// get tried.
	versionNoKey = 1
	version      = 2
	head         = 7  // version, purpose, channel, expiry (after the hint)
	macLen       = 16 // 128 bits of HMAC-SHA256 is ample against forgery
)

func channelByte(ch events.Channel) byte {
	switch ch {
	case events.ChannelSMS:
		return 1
	case events.ChannelEmail:
		return 2
	}
	return 0
}

func byteChannel(b byte) events.Channel {
	switch b {
	case 1:
		return events.ChannelSMS
	case 2:
		return events.ChannelEmail
	}
	return ""
}

// Signer signs tokens with the current key of a keyring and verifies them
// with whichever key signed them.
type Signer struct {
	keys secret.Keyring
}

// NewSigner uses keys, which every campaigns replica must share.
func NewSigner(keys secret.Keyring) *Signer { return &Signer{keys: keys} }

// Sign makes a token. Campaign ids are UUIDs and are packed into 16 bytes;
// contact ids are packed the same way when they are UUIDs too.
func (s *Signer) Sign(c Claims) string {
	id, key := s.keys.Current()
	var buf [96]byte
	b := append(buf[:0], version, id[0], byte(c.Purpose), channelByte(c.Channel))
	b = binary.BigEndian.AppendUint32(b, uint32(c.Expires.Unix()))
	b = appendID(b, c.CampaignID)
	b = appendID(b, c.ContactID)
	b = append(b, mac(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify checks a token's signature and expiry at now and returns what it
// says.
func (s *Signer) Verify(tok string, now time.Time) (Claims, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 1 {
		return Claims{}, ErrInvalid
	}
	skip := 1 // the version, and for version 2 the key hint
	switch b[0] {
	case versionNoKey:
	case version:
		skip = 2
	default:
		return Claims{}, ErrInvalid
	}
	if len(b) < skip-1+head+macLen {
		return Claims{}, ErrInvalid
	}
	body, sum := b[:len(b)-macLen], b[len(b)-macLen:]
	signed := false
	for _, key := range s.keys.All() {
		if skip == 2 && secret.IDOf(key)[0] != body[1] {
			continue
		}
		if hmac.Equal(sum, mac(key, body)) {
			signed = true
			break
		}
	}
	if !signed {
		return Claims{}, ErrInvalid
	}
	f := body[skip-1:] // from here on, both versions read alike
	c := Claims{Purpose: Purpose(f[1]), Channel: byteChannel(f[2]), Expires: time.Unix(int64(binary.BigEndian.Uint32(f[3:7])), 0).UTC()}
	rest := f[head:]
	var ok bool
	if c.CampaignID, rest, ok = readID(rest); !ok {
		return Claims{}, ErrInvalid
	}
	if c.ContactID, rest, ok = readID(rest); !ok || len(rest) != 0 {
		return Claims{}, ErrInvalid
	}
	if !now.Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

func mac(key, b []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(b)
	return h.Sum(nil)[:macLen]
}

// An id is written as uuidTag and 16 bytes for a canonical UUID, or as its
// length (below uuidTag) and its bytes.
const uuidTag = 0xFF

func appendID(b []byte, id string) []byte {
	if raw, ok := parseUUID(id); ok {
		b = append(b, uuidTag)
		return append(b, raw[:]...)
	}
	if len(id) >= uuidTag {
		id = id[:uuidTag-1] // ids are never this long; a clipped one simply fails to match
	}
	b = append(b, byte(len(id)))
	return append(b, id...)
}

func readID(b []byte) (string, []byte, bool) {
	if len(b) == 0 {
		return "", nil, false
	}
	if b[0] == uuidTag {
		if len(b) < 17 {
			return "", nil, false
		}
		return formatUUID(b[1:17]), b[17:], true
	}
	n := int(b[0])
	if len(b) < 1+n {
		return "", nil, false
	}
	return string(b[1 : 1+n]), b[1+n:], true
}

func parseUUID(s string) ([16]byte, bool) {
	var out [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return out, false
	}
	h := strings.ReplaceAll(s, "-", "")
	if strings.ToLower(h) != h {
		return out, false // only the canonical lower-case form round-trips
	}
	if _, err := hex.Decode(out[:], []byte(h)); err != nil {
		return out, false
	}
	return out, true
}

func formatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
