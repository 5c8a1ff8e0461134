package phone

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestFastPhonePathAgreesWithFullParse compares the ten-digit fast path
// with libphonenumber's full parse over every area code and a spread of
// exchanges (valid, N11, 555, 958, 0 and 1 leaders), each typed three
// ways: the fast path may only accept what the full parse accepts, as
// the same E.164 number.
func TestFastPhonePathAgreesWithFullParse(t *testing.T) {
	accepted := 0
	for npa := 100; npa <= 999; npa += 1 {
		for _, nxx := range []int{100, 200, 211, 234, 555, 611, 911, 958, 976} {
			for _, f := range []string{"(%03d) %03d-%04d", "1-%03d-%03d-%04d", "+1 %03d.%03d.%04d"} {
				s := fmt.Sprintf(f, npa, nxx, 134)
				fast, ok := parseNANP(s, "US")
				full, err := parseFull(s, s, "US")
				if ok && (err != nil || full != fast) {
					t.Fatalf("%q: fast path %q, full parse %q %v", s, fast, full, err)
				}
				if ok {
					accepted++
				}
			}
		}
	}
	if accepted < 1000 {
		t.Fatalf("fast path accepted only %d numbers", accepted)
	}
}

// FuzzFastPath checks that the fast path for ten-digit numbers never
// accepts a number libphonenumber's full parse would refuse or would
// write differently.
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{"(212) 555-0134", "212.555.0134", "+1 212 555 0134", "1-212-555-0134", "(000) 000-0000", "((212)) 555--0134"} {
		f.Add(s, "US")
	}
	f.Add("2125550134", "CA")
	f.Add("+1 416 555 0134", "GB")
	f.Fuzz(func(t *testing.T, raw, region string) {
		if len(region) > 3 {
			region = region[:3]
		}
		s := strings.TrimSpace(raw)
		if fast, ok := parseNANP(s, region); ok {
			full, err := parseFull(raw, s, region)
			if err != nil || full != fast {
				t.Fatalf("fast path took %q as %q; the full parse says %q, %v", raw, fast, full, err)
			}
		}
	})
}

// IsE164 is the regular expression three services used to copy.
func TestIsE164MatchesTheOldPattern(t *testing.T) {
	re := regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)
	for _, s := range []string{"", "+", "+1", "+1212555010", "+12125550101", "+121255501011234", "+1212555010112345",
		"+0212555010", "12125550101", "+1 2125550101", "+1212555010a", "+12125550101\n", "++12125550101", "+44207946000"} {
		if got, want := IsE164(s), re.MatchString(s); got != want {
			t.Errorf("IsE164(%q) = %v, want %v", s, got, want)
		}
	}
}
