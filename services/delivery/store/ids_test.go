package store

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// The ids a batch names are what uuid_v7() made: version 7, the RFC 9562
// variant, the milliseconds of the machine's clock in front (so new rows
// land at the end of the primary key), distinct, and their text is their
// bytes.
func TestNewIDsAreTimeOrderedVersion7(t *testing.T) {
	before := time.Now().UnixMilli()
	raw, text := newIDs(500)
	after := time.Now().UnixMilli()
	seen := map[string]bool{}
	for i, id := range raw {
		if id[6]>>4 != 7 || id[8]>>6 != 2 {
			t.Fatalf("id %s: version %d, variant bits %b", text[i], id[6]>>4, id[8]>>6)
		}
		var ms [8]byte
		copy(ms[2:], id[:6])
		if at := int64(binary.BigEndian.Uint64(ms[:])); at < before || at > after {
			t.Fatalf("id %s holds %d ms, want between %d and %d", text[i], at, before, after)
		}
		if got := strings.ReplaceAll(text[i], "-", ""); got != hex.EncodeToString(id[:]) || len(text[i]) != 36 || text[i][8] != '-' || text[i][23] != '-' {
			t.Fatalf("id text %q is not its bytes %x", text[i], id)
		}
		if seen[text[i]] {
			t.Fatalf("id %s made twice", text[i])
		}
		seen[text[i]] = true
	}
}
