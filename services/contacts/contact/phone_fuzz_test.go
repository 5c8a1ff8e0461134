package contact

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/musterhq/muster/shared/apperr"
)

// FuzzParsePhone checks that ParsePhone never panics, that what it
// accepts is E.164 and that a refusal names the phone field (shared/phone
// fuzzes its fast path against libphonenumber's full parse).
func FuzzParsePhone(f *testing.F) {
	for _, s := range []string{"(212) 555-0134", "212.555.0134", "+1 212 555 0134", "1-212-555-0134", "+44 20 7946 0958",
		"555-CALL-NOW", "123", "", "(000) 000-0000", "2125550134 x12", "+12125550134", "((212)) 555--0134", "+", "1"} {
		f.Add(s, "US")
	}
	f.Add("2125550134", "CA")
	f.Add("+1 416 555 0134", "GB")
	f.Fuzz(func(t *testing.T, raw, region string) {
		if len(region) > 3 {
			region = region[:3]
		}
		p, err := ParsePhone(raw, region)
		if err != nil {
			if apperr.FieldOf(err) != "phone" {
				t.Fatalf("ParsePhone(%q) error %v names field %q", raw, err, apperr.FieldOf(err))
			}
			return
		}
		if !strings.HasPrefix(string(p), "+") || len(p) < 8 || len(p) > 16 || !utf8.ValidString(string(p)) {
			t.Fatalf("ParsePhone(%q) = %q, not E.164", raw, p)
		}
		for _, c := range p[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("ParsePhone(%q) = %q, not E.164", raw, p)
			}
		}
	})
}

// FuzzParseEmail checks that ParseEmail never panics and that what it
// accepts is lower case with a dotted domain.
func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{"Ana.Ruiz@Local1199.ORG", " ana@x.org ", "ana@", "ana@localhost", "Ana <ana@x.org>", "not an email", "a@b.c", "\"q\"@x.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		e, err := ParseEmail(raw)
		if err != nil {
			if apperr.FieldOf(err) != "email" {
				t.Fatalf("ParseEmail(%q) error names field %q", raw, apperr.FieldOf(err))
			}
			return
		}
		s := string(e)
		at := strings.LastIndexByte(s, '@')
		if at <= 0 || s != strings.ToLower(s) || !strings.Contains(s[at+1:], ".") || strings.HasSuffix(s, ".") {
			t.Fatalf("ParseEmail(%q) = %q", raw, s)
		}
	})
}
