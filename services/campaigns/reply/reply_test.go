package reply

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRSVP(t *testing.T) {
	cases := []struct {
		body  string
		want  Answer
		extra bool
	}{
		{"YES", Yes, false},
		{"yes!", Yes, false},
		{" Yes I'll be there ", Yes, false},
		{"Yes I’ll be there", Yes, false}, // curly apostrophe
		{"yeah", Yes, false},
		{"Yesss!!!", Yes, false},
		{"Y", Yes, false},
		{"ok see you there", Yes, false},
		{"Count me in", Yes, false},
		{"I'll be there", Yes, false},
		{"i can make it", Yes, false},
		{"Sí", Yes, false},
		{"si, allí estaré", Yes, false},
		{"👍", Yes, false},
		{"yes! what should I bring?", Yes, true},
		{"Yes, and I'm bringing three coworkers from the night shift with me", Yes, true},
		{"no", No, false},
		{"No sorry", No, false},
		{"NO.", No, false},
		{"nope, working that night", No, false},
		{"I can't make it", No, false},
		{"cannot come, sorry", No, false},
		{"won't be there", No, false},
		{"No puedo", No, false},
		{"👎", No, false},
		{"not coming?", No, true},
		{"yes but I can't make it", None, false},   // says both
		{"no problem, I'll be there", None, false}, // says both
		{"not sure", None, false},
		{"maybe", None, false},
		{"Can I bring my kids?", None, false},
		{"", None, false},
		{"   ", None, false},
		{"yesterday was rough", None, false},
		{"nobody told me", None, false},
		{"STOP", None, false},
		{strings.Repeat("yes ", MaxWords+1), None, false},
	}
	for _, c := range cases {
		got := RSVP(c.body)
		if got.Answer != c.want || (got.Answer != None && got.Extra != c.extra) {
			t.Errorf("RSVP(%q) = %+v, want %q extra=%v", c.body, got, c.want, c.extra)
		}
	}
}

func TestKeyword(t *testing.T) {
	cases := []struct {
		body, kw string
		want     bool
	}{
		{"SIGN", "SIGN", true},
		{"sign", "SIGN", true},
		{"Sign!", "SIGN", true},
		{"signed", "SIGN", true},
		{"Sign me up", "SIGN", true},
		{"I signed", "SIGN", true},
		{"CALLED", "CALLED", true},
		{"I called!", "CALLED", true},
		{"called them, they hung up", "CALLED", true},
		{"signature?", "SIGN", false},
		{"please sign me", "SIGN", false},
		{"design", "SIGN", false},
		{"yes", "SIGN", false},
		{"", "SIGN", false},
		{"SIGN", "", false},
	}
	for _, c := range cases {
		if got := Keyword(c.body, c.kw).Answer == Yes; got != c.want {
			t.Errorf("Keyword(%q, %q) = %v, want %v", c.body, c.kw, got, c.want)
		}
	}
}

// FuzzRSVP holds the matcher to its promises on any text: it never
// panics, it ignores letter case and trailing punctuation, and a text it
// reads as yes never reads as no once "no" leads it (it becomes
// ambiguous or no, never still yes unless it carried a no word already).
func FuzzRSVP(f *testing.F) {
	for _, s := range []string{"yes", "No sorry", "Yes I'll be there", "can't make it", "👍", "sí", "not sure", "yes but no", "?", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m := RSVP(body)
		switch m.Answer {
		case None, Yes, No:
		default:
			t.Fatalf("RSVP(%q) = unknown answer %q", body, m.Answer)
		}
		if m.Answer == None && m.Extra {
			t.Fatalf("RSVP(%q): extra without an answer", body)
		}
		if utf8.ValidString(body) {
			if up := RSVP(asciiUpper(body)); up.Answer != m.Answer {
				t.Fatalf("RSVP(%q) = %q but RSVP(upper) = %q", body, m.Answer, up.Answer)
			}
		}
		if !strings.Contains(body, "?") {
			if bang := RSVP(body + "!"); bang.Answer != m.Answer {
				t.Fatalf("RSVP(%q) = %q but with \"!\" = %q", body, m.Answer, bang.Answer)
			}
		}
		if m.Answer == Yes {
			if led := RSVP("no " + body); led.Answer == Yes {
				t.Fatalf("RSVP(%q) = yes, and still yes after a leading no", body)
			}
		}
	})
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
