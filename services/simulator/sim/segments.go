package sim

import "unicode/utf16"

// Segment sizes used by carriers. A message that fits in one segment has the
// whole payload; a longer one loses room to the concatenation header.
const (
	gsmSingle  = 160 // septets in a lone GSM-7 segment
	gsmPart    = 153 // septets per part of a concatenated GSM-7 message
	ucs2Single = 70  // UTF-16 units in a lone UCS-2 segment
	ucs2Part   = 67  // UTF-16 units per part of a concatenated UCS-2 message
)

// gsmBasic is the GSM 03.38 default alphabet (one septet each).
var gsmBasic = func() map[rune]bool {
	const chars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	m := make(map[rune]bool, 128)
	for _, r := range chars {
		m[r] = true
	}
	return m
}()

// gsmExtended holds the GSM 03.38 extension table characters, which are sent
// as an escape septet plus the character and so cost two septets.
var gsmExtended = map[rune]bool{
	'^': true, '{': true, '}': true, '\\': true, '[': true, ']': true,
	'~': true, '|': true, '€': true, '\f': true,
}

// Segments reports how many SMS segments body is billed as, the way Twilio
// counts them: GSM-7 when every character is in the GSM alphabet, otherwise
// UCS-2 counted in UTF-16 units. Multi-unit characters (GSM escapes, UTF-16
// surrogate pairs) are never split across parts. The simulator returns it
// as num_segments, and callers that budget sends can use it too.
func Segments(body string) int {
	if body == "" {
		return 1
	}
	width, single, part := gsmWidth, gsmSingle, gsmPart
	for _, r := range body {
		if !gsmBasic[r] && !gsmExtended[r] {
			width, single, part = ucs2Width, ucs2Single, ucs2Part
			break
		}
	}

	total := 0
	for _, r := range body {
		total += width(r)
	}
	if total <= single {
		return 1
	}
	// Fill each part greedily without splitting a character.
	parts, used := 1, 0
	for _, r := range body {
		w := width(r)
		if used+w > part {
			parts++
			used = 0
		}
		used += w
	}
	return parts
}

// gsmWidth is the number of septets r takes in GSM-7.
func gsmWidth(r rune) int {
	if gsmExtended[r] {
		return 2
	}
	return 1
}

// ucs2Width is the number of UTF-16 units r takes in UCS-2 (UTF-16).
func ucs2Width(r rune) int {
	if w := utf16.RuneLen(r); w > 0 {
		return w
	}
	return 1 // invalid rune: sent as U+FFFD, one unit
}
