package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// newIDs makes n message ids in the layout of the schema's uuid_v7()
// (migration 0008): 48 bits of Unix milliseconds read from the machine's
// clock, as clock_timestamp() was, then the version, 74 random bits and
// the variant. Batch inserts name their rows' ids rather than call
// uuid_v7() per row: in PostgreSQL that function (gen_random_uuid, numeric
// epoch arithmetic, a hex round trip) cost about 3 µs of the database's
// CPU per email, more than any index the row is written to.
func newIDs(n int) ([][16]byte, []string) {
	raw := make([][16]byte, n)
	random := make([]byte, 10*n)
	_, _ = rand.Read(random) // crypto/rand.Read never fails on supported platforms
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(time.Now().UnixMilli()))
	text := make([]string, n)
	buf := make([]byte, 36*n) // one allocation for every id's text
	for i := range raw {
		id := &raw[i]
		copy(id[:6], ms[2:])
		copy(id[6:], random[10*i:10*i+10])
		id[6] = id[6]&0x0f | 0x70 // version 7
		id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant
		s := buf[36*i : 36*i+36]
		hex.Encode(s[0:8], id[0:4])
		s[8] = '-'
		hex.Encode(s[9:13], id[4:6])
		s[13] = '-'
		hex.Encode(s[14:18], id[6:8])
		s[18] = '-'
		hex.Encode(s[19:23], id[8:10])
		s[23] = '-'
		hex.Encode(s[24:36], id[10:16])
	}
	all := string(buf)
	for i := range text {
		text[i] = all[36*i : 36*i+36]
	}
	return raw, text
}
