// Package reply reads members' texts for what a campaign asked: a YES or
// NO to a meeting, or a petition's keyword. Members write as people do
// ("yes!", "Yes I'll be there", "no sorry, working"), so the matcher is
// tolerant, but it never guesses: a text that says both yes and no, or
// neither, is not an answer and goes to a person in the inbox.
//
// The rules, in order:
//
//  1. The text is lower-cased, accents are folded (sí is si), curly
//     apostrophes are straightened, and it is split into words of letters
//     and digits; apostrophes are dropped (can't is cant).
//  2. A thumbs up or check mark is the word yes; a thumbs down or cross
//     is the word no.
//  3. Yes: the first word is a yes word (yes, yeah, yep, sure, ok, si, ...)
//     or the text holds a yes phrase (i'll be there, count me in, ...).
//  4. No: the first word is a no word (no, nope, nah, ...) or the text
//     holds a no phrase (can't make it, not coming, no puedo, ...).
//  5. Both or neither: no answer.
//
// A text that answers and also asks something (a question mark) or says a
// good deal more (over eight words) is an answer with Extra set: the
// answer is recorded and a person still reads the rest.
package reply

import (
	"strings"
	"unicode"
)

// Answer is an RSVP.
type Answer string

// The answers; None is no answer at all.
const (
	None Answer = ""
	Yes  Answer = "yes"
	No   Answer = "no"
)

// Match is what a text says.
type Match struct {
	Answer Answer
	// Extra means the text says more than the answer; a person should
	// read it too.
	Extra bool
}

// MaxWords bounds the texts read for an answer at all: a long message is
// a conversation, not an RSVP.
const MaxWords = 30

const extraWords = 8

// RSVP reads a text for a yes or a no.
func RSVP(body string) Match {
	words := Words(body)
	if len(words) == 0 || len(words) > MaxWords {
		return Match{}
	}
	yes := isYesWord(words[0]) || hasPhrase(words, yesPhrases)
	no := isNoWord(words[0]) || hasPhrase(words, noPhrases)
	m := Match{Extra: strings.Contains(body, "?") || len(words) > extraWords}
	switch {
	case yes && !no:
		m.Answer = Yes
	case no && !yes:
		m.Answer = No
	default:
		return Match{}
	}
	return m
}

// Keyword reports whether a text is the keyword (SIGN, CALLED): its first
// word, or its second after "i" ("I called"), in any case, with the past
// tense accepted for a verb ("signed" for SIGN). Extra is set as for RSVP.
func Keyword(body, keyword string) Match {
	words := Words(body)
	kw := strings.ToLower(keyword)
	if len(words) == 0 || kw == "" || len(words) > MaxWords {
		return Match{}
	}
	first := words[0]
	if first == "i" && len(words) > 1 {
		first = words[1]
	}
	if first != kw && first != kw+"ed" && first != kw+"d" {
		return Match{}
	}
	return Match{Answer: Yes, Extra: strings.Contains(body, "?") || len(words) > extraWords}
}

func isYesWord(w string) bool {
	switch w {
	case "yes", "y", "yeah", "yea", "yep", "yup", "ya", "yah", "yas", "sure", "ok", "okay", "k", "kk",
		"absolutely", "definitely", "certainly", "si", "claro", "attending", "confirmed":
		return true
	}
	// "yesss", "yess", "yeahhh"
	return len(w) > 3 && (strings.Trim(w, "s") == "ye" || strings.TrimRight(w, "h") == "yea")
}

func isNoWord(w string) bool {
	switch w {
	case "no", "n", "nope", "nah", "nay", "noo", "nooo":
		return true
	}
	return false
}

// Phrases are word sequences (after normalizing) that answer by
// themselves wherever they appear.
var yesPhrases = [][]string{
	{"ill", "be", "there"}, {"i", "will", "be", "there"}, {"will", "be", "there"}, {"count", "me", "in"},
	{"im", "in"}, {"i", "am", "in"}, {"see", "you", "there"}, {"i", "can", "make", "it"},
	{"ill", "come"}, {"i", "will", "come"}, {"will", "attend"}, {"im", "coming"}, {"i", "am", "coming"},
	{"ill", "make", "it"}, {"alli", "estare"}, {"ahi", "estare"}, {"asistire"}, {"cuenten", "conmigo"},
}

var noPhrases = [][]string{
	{"cant", "make"}, {"cannot", "make"}, {"can", "not", "make"}, {"cant", "come"}, {"cannot", "come"},
	{"cant", "attend"}, {"cannot", "attend"}, {"cant", "go"}, {"cannot", "go"}, {"cant", "be", "there"},
	{"wont", "be", "there"}, {"will", "not", "be", "there"}, {"wont", "make", "it"}, {"not", "coming"},
	{"not", "going"}, {"not", "attending"}, {"not", "able"}, {"unable"}, {"no", "puedo"}, {"no", "podre"},
	{"no", "voy"},
}

func hasPhrase(words []string, phrases [][]string) bool {
	for _, p := range phrases {
		for i := 0; i+len(p) <= len(words); i++ {
			match := true
			for j := range p {
				if words[i+j] != p[j] {
					match = false
					break
				}
			}
			if match {
				return true
			}
		}
	}
	return false
}

// Words normalizes a text into lower-case words of letters and digits,
// accents folded and apostrophes dropped.
func Words(body string) []string {
	var words []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for _, r := range body {
		switch {
		case r == '👍' || r == '✅' || r == '✔':
			flush()
			words = append(words, "yes")
		case r == '👎' || r == '❌':
			flush()
			words = append(words, "no")
		case r == '\'' || r == '\u2019' || r == '\u2018' || r == '`':
			continue // can't -> cant
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			cur.WriteString(fold(unicode.ToLower(r)))
		default:
			flush()
		}
	}
	flush()
	return words
}

// fold drops the accents Spanish and French speakers type, so "sí" and
// "si" are one word.
func fold(r rune) string {
	switch r {
	case 'á', 'à', 'â', 'ä', 'ã':
		return "a"
	case 'é', 'è', 'ê', 'ë':
		return "e"
	case 'í', 'ì', 'î', 'ï':
		return "i"
	case 'ó', 'ò', 'ô', 'ö', 'õ':
		return "o"
	case 'ú', 'ù', 'û', 'ü':
		return "u"
	case 'ñ':
		return "n"
	case 'ç':
		return "c"
	}
	return string(r)
}
