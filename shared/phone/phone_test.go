package phone

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
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

// TestTimeZonesAgreeWithTheFullParse looks up the zones of numbers as
// Parse writes them, across every NANP area code and a spread of
// countries (Italy's numbers keep their leading zero, Argentina's mobile
// numbers gain a 9), and compares them with libphonenumber's own path:
// parse the number, then look its zones up.
func TestTimeZonesAgreeWithTheFullParse(t *testing.T) {
	var numbers []string
	for npa := 200; npa <= 999; npa++ {
		numbers = append(numbers, fmt.Sprintf("+1%03d5550134", npa), fmt.Sprintf("+1%03d2345678", npa))
	}
	nanp := len(numbers)
	for _, region := range []string{"GB", "IT", "DE", "FR", "MX", "BR", "AR", "IN", "AU", "RU", "CN", "JP", "ZA", "NZ", "ID", "PH", "NG", "KE", "ES", "SV", "PR", "GU"} {
		for _, kind := range []phonenumbers.PhoneNumberType{phonenumbers.FIXED_LINE, phonenumbers.MOBILE} {
			example := phonenumbers.GetExampleNumberForType(region, kind)
			if example == nil {
				continue
			}
			national := phonenumbers.GetNationalSignificantNumber(example)
			for d := range 10 {
				typed := fmt.Sprintf("+%d%s%d", example.GetCountryCode(), national[:len(national)-1], d)
				n, err := Parse(typed, region)
				if err != nil {
					continue
				}
				numbers = append(numbers, n)
			}
		}
	}
	if abroad := len(numbers) - nanp; abroad < 300 {
		t.Fatalf("only %d numbers outside the NANP parsed; the comparison needs them", abroad)
	}
	known := 0
	for _, n := range numbers {
		if !IsE164(n) {
			t.Fatalf("Parse wrote %q, not E.164", n)
		}
		want := fullParseZones(t, n)
		got := TimeZones(n)
		if !slices.Equal(got, want) {
			t.Fatalf("TimeZones(%q) = %q; parsed first, libphonenumber says %q", n, got, want)
		}
		if len(got) > 0 {
			known++
		}
	}
	if known < len(numbers)*9/10 {
		t.Fatalf("only %d of %d numbers have a known zone", known, len(numbers))
	}
	if got := TimeZones("+1 (212) 555-0134"); !slices.Equal(got, fullParseZones(t, "+12125550134")) || len(got) == 0 {
		t.Fatalf("a typed number: zones %q", got)
	}
	if got := TimeZones("not a number"); got != nil {
		t.Fatalf("zones of a non-number: %q", got)
	}
}

// fullParseZones is libphonenumber's whole path from a number to its
// zones, with "unknown" as nil.
func fullParseZones(t *testing.T, number string) []string {
	t.Helper()
	num, err := phonenumbers.Parse(number, "")
	if err != nil {
		t.Fatalf("parsing %q: %v", number, err)
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil {
		t.Fatalf("zones of %q: %v", number, err)
	}
	if len(names) == 1 && names[0] == phonenumbers.UNKNOWN_TIMEZONE {
		return nil
	}
	return names
}

// BenchmarkTimeZones compares a stored number's lookup with a typed
// one's, which takes libphonenumber's full parse first.
func BenchmarkTimeZones(b *testing.B) {
	for name, number := range map[string]string{"stored": "+12125550134", "typed": "+1 (212) 555-0134"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if TimeZones(number) == nil {
					b.Fatal("no zone for a New York number")
				}
			}
		})
	}
}
