// Package sms is the arithmetic of SMS length: which encoding a text needs
// and how many segments carriers bill it as. Twilio's throughput limits
// count segments, so delivery's rate limits do, and organizers see the
// count while they write.
package sms

import "unicode/utf16"

// Encoding is how a text travels: GSM-7 when every character is in the GSM
// 03.38 alphabet, UCS-2 otherwise.
type Encoding string

// The two encodings.
const (
	GSM7 Encoding = "GSM-7"
	UCS2 Encoding = "UCS-2"
)

// Length describes a text as a carrier sees it.
type Length struct {
	Encoding Encoding `json:"encoding"`
	// Units are septets for GSM-7 (extension characters count two) and
	// UTF-16 code units for UCS-2 (an emoji counts two).
	Units    int `json:"units"`
	Segments int `json:"segments"`
}

const (
	gsmSingle, gsmPart   = 160, 153
	ucs2Single, ucs2Part = 70, 67
)

// basic is the GSM 03.38 default alphabet; extended characters need an
// escape septet first and so cost two.
const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

const extended = "^{}\\[]~|€\f"

// gsmWidth is 1 or 2 septets for a GSM-7 character and 0 for one GSM-7
// cannot carry.
func gsmWidth(r rune) int {
	if r < 128 && asciiBasic[r] {
		return 1
	}
	for _, c := range extended {
		if c == r {
			return 2
		}
	}
	for _, c := range basic {
		if c == r {
			return 1
		}
	}
	return 0
}

// asciiBasic answers the common case without scanning the alphabet.
var asciiBasic = func() (t [128]bool) {
	for _, c := range basic {
		if c < 128 {
			t[c] = true
		}
	}
	return t
}()

// Measure returns a text's encoding, length and segment count. A character
// is never split across segments.
func Measure(body string) Length {
	enc := GSM7
	for _, r := range body {
		if gsmWidth(r) == 0 {
			enc = UCS2
			break
		}
	}
	width := func(r rune) int {
		if enc == GSM7 {
			return gsmWidth(r)
		}
		if w := utf16.RuneLen(r); w > 0 {
			return w
		}
		return 1
	}
	single, part := gsmSingle, gsmPart
	if enc == UCS2 {
		single, part = ucs2Single, ucs2Part
	}
	total := 0
	for _, r := range body {
		total += width(r)
	}
	l := Length{Encoding: enc, Units: total, Segments: 1}
	if total <= single {
		return l
	}
	used := 0
	for _, r := range body {
		w := width(r)
		if used+w > part {
			l.Segments++
			used = 0
		}
		used += w
	}
	return l
}

// Plain swaps the typographic characters that force UCS-2 (curly quotes,
// long dashes, ellipsis, non-breaking space) for plain ones, which can
// halve a text's cost. It changes nothing else.
func Plain(body string) string {
	out := make([]rune, 0, len(body))
	for _, r := range body {
		switch r {
		case '\u2018', '\u2019', '\u201B', '\u2032':
			out = append(out, '\'')
		case '\u201C', '\u201D', '\u201F', '\u2033':
			out = append(out, '"')
		case '\u2013', '\u2014', '\u2212':
			out = append(out, '-')
		case '\u2026':
			out = append(out, '.', '.', '.')
		case '\u00A0', '\u2009', '\u202F':
			out = append(out, ' ')
		default:
			out = append(out, r)
		}
	}
	return string(out)
}
