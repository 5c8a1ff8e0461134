// Package phone reads phone numbers as people type them ("(212) 555-1990",
// "212.555.1990", "+1 212 555 1990") into E.164, the one form every service
// stores and compares. Contacts' import, the console's test send and
// anything else that takes a typed number use it, so a number one accepts
// is never refused by another.
package phone

import (
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/musterhq/muster/shared/apperr"
)

// IsE164 reports whether s is already in E.164 as stored: "+", a first
// digit that is not 0, and 7 to 14 more digits. It reads nothing else
// (no spaces, no punctuation): it checks a number another service has
// already normalized with Parse, at the boundary where it arrives.
func IsE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Parse normalizes a number typed in any common format to E.164,
// reading numbers without a country code as in region (for example "US").
// Numbers that cannot be real in their region are refused with the reason.
func Parse(raw, region string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", apperr.Invalid("phone", "is empty")
	}
	if len(s) > 64 {
		return "", apperr.Invalid("phone", "is %d characters long; no phone number is", len(s))
	}
	for _, r := range s {
		if (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') && !strings.ContainsRune("xXeExtT", r) {
			return "", apperr.Invalid("phone", "%q contains letters", raw)
		}
	}
	if p, ok := parseNANP(s, region); ok {
		return p, nil
	}
	return parseFull(raw, s, region)
}

// parseFull is libphonenumber's whole parse, for any number anywhere.
func parseFull(raw, s, region string) (string, error) {
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", apperr.Invalid("phone", "%q is not a phone number: %v", raw, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", apperr.Invalid("phone", "%q is not a valid number", raw)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// parseNANP is the fast path for the numbers a US union's list is made
// of: ten digits (or eleven with the leading 1) punctuated any common way.
// It builds the number phonenumbers.Parse would build and asks
// libphonenumber whether it is valid, skipping Parse's regular
// expressions, which are most of the cost when an import reads a million
// numbers. Anything else, and any number it does not find valid, takes the
// full path, so a number is never accepted that libphonenumber would
// refuse.
func parseNANP(s, region string) (string, bool) {
	var digits [11]byte
	n, plus := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return "", false
			}
			digits[n] = c
			n++
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	var national []byte
	switch {
	case n == 11 && digits[0] == '1':
		national = digits[1:]
	case n == 10 && !plus:
		national = digits[:10]
	default:
		return "", false
	}
	check := region
	if phonenumbers.GetCountryCodeForRegion(region) != 1 {
		if !plus {
			return "", false
		}
		check = "US"
	}
	var nn uint64
	for _, d := range national {
		nn = nn*10 + uint64(d-'0')
	}
	cc := int32(1)
	num := &phonenumbers.PhoneNumber{CountryCode: &cc, NationalNumber: &nn}
	if !phonenumbers.IsValidNumberForRegion(num, check) {
		return "", false
	}
	return "+1" + string(national), true
}

// TimeZones returns the names of the time zones a number's country and
// area code cover, as libphonenumber knows them, or nil when it knows
// none. libphonenumber finds them by the longest known prefix of the
// number's E.164 digits; a number already in E.164, as Parse writes it
// and as every service stores it, is looked up as it is, without the
// full parse whose regular expressions cost more than the lookup itself
// (a share of every text's CPU when delivery checks quiet hours).
// Anything else is parsed first. The slice is libphonenumber's own: read
// it, never change it.
func TimeZones(number string) []string {
	e164 := number
	if !IsE164(number) {
		num, err := phonenumbers.Parse(number, "")
		if err != nil {
			return nil
		}
		e164 = phonenumbers.Format(num, phonenumbers.E164)
	}
	names, err := phonenumbers.GetTimezonesForPrefix(e164)
	if err != nil || len(names) == 1 && names[0] == phonenumbers.UNKNOWN_TIMEZONE {
		return nil
	}
	return names
}
