package reply

import (
	"strconv"
	"strings"

	"github.com/musterhq/muster/shared/consent"
)

// Choices are what a poll's answers look like: for each answer, the
// labels that name it (the organizer's, the Spanish one they gave). A
// scale has no labels: its answers are the numbers 1..len.
type Choices [][]string

// MaxChoiceWords bounds the texts read for a poll answer: a choice word
// inside a short reply ("heavy this week") is an answer, a paragraph is a
// conversation for a person.
const MaxChoiceWords = 12

// MatchChoice reads a text for a poll answer and returns its index (0
// based). The rules, in order:
//
//  1. A keyword a member uses with delivery (STOP and its family, HELP,
//     START, PAUSE...) or a possible opt-out is never an answer, whatever
//     the choices are: consent.Read decides, and it wins.
//  2. The text is normalized as for RSVPs (Words: lower case, accents
//     folded, punctuation and emoji dropped), so "2", "2.", "#2", "(2)",
//     "Heavy!" and "HEAVY" read alike. Over MaxChoiceWords words is no
//     answer.
//  3. A number from 1 to the number of answers is that answer ("2",
//     "#2", "option 2"); a digit key emoji (2️⃣) is its digit.
//  4. A label is that answer when its words appear in the text: the
//     organizer's label, their Spanish label, or a common Spanish or
//     English translation of it (see translations), with a plural s or
//     a Spanish o/a ending accepted ("pesada", "heavy"). A label preceded
//     by not or no ("not unsafe") does not count.
//  5. Exactly one answer named (by number, by label, or both agreeing) is
//     the answer; two different ones, or none, is no answer and the text
//     goes to a person.
//
// Extra is set as for RSVP: a question mark or more than eight words.
func MatchChoice(body string, choices Choices) (int, Match) {
	n := len(choices)
	if n == 0 {
		return -1, Match{}
	}
	if m := consent.Read(body).Meaning; m.Keyword() && m != consent.Yes || m == consent.Review {
		return -1, Match{}
	}
	words := Words(body)
	if len(words) == 0 || len(words) > MaxChoiceWords {
		return -1, Match{}
	}
	found := -1
	name := func(i int) bool {
		if found >= 0 && found != i {
			return false
		}
		found = i
		return true
	}
	for _, w := range words {
		if k, err := strconv.Atoi(w); err == nil && len(w) <= 3 {
			if k < 1 || k > n {
				// A number that is no answer ("3" to a two-choice poll,
				// "10 hours") is no guess at one either.
				return -1, Match{}
			}
			if !name(k - 1) {
				return -1, Match{}
			}
		}
	}
	for i, labels := range choices {
		for _, l := range labels {
			if hasLabel(words, l) && !name(i) {
				return -1, Match{}
			}
		}
	}
	if found < 0 {
		return -1, Match{}
	}
	return found, Match{Answer: Yes, Extra: strings.Contains(body, "?") || len(words) > extraWords}
}

// hasLabel reports whether the label's words, or a translation's, appear
// in words, not negated.
func hasLabel(words []string, label string) bool {
	lw := Words(label)
	if len(lw) == 0 {
		return false
	}
	forms := [][]string{lw}
	if len(lw) == 1 {
		for _, t := range translations[lw[0]] {
			forms = append(forms, []string{t})
		}
	}
	for _, f := range forms {
		for i := 0; i+len(f) <= len(words); i++ {
			ok := true
			for j := range f {
				if !sameWord(words[i+j], f[j]) {
					ok = false
					break
				}
			}
			if ok && !(i > 0 && (words[i-1] == "not" || words[i-1] == "no" || words[i-1] == "nada")) {
				return true
			}
		}
	}
	return false
}

// sameWord compares a member's word with a label's: equal, or the label
// with a plural s or es, or a Spanish word with its o/a ending swapped
// (pesado, pesada, pesados).
func sameWord(w, label string) bool {
	if w == label {
		return true
	}
	if len(label) < 4 {
		return false
	}
	if w == label+"s" || w == label+"es" {
		return true
	}
	stem, end := label[:len(label)-1], label[len(label)-1]
	if end == 'o' || end == 'a' {
		return w == stem+"o" || w == stem+"a" || w == stem+"os" || w == stem+"as"
	}
	return false
}

// translations are words organizers commonly use as choices, each with
// the words members write for it in the other language (English and
// Spanish, as Muster's built-in texts are). They are the usual dictionary
// equivalents of workload, safety and agreement answers; a label not
// listed matches only itself and the Spanish label the organizer gave.
var translations = map[string][]string{
	"manageable": {"manejable", "llevadero", "aguantable"},
	"manejable":  {"manageable"},
	"heavy":      {"pesado", "pesada", "fuerte"},
	"pesado":     {"heavy"},
	"unsafe":     {"peligroso", "inseguro", "insegura"},
	"dangerous":  {"peligroso", "peligrosa"},
	"peligroso":  {"unsafe", "dangerous"},
	"inseguro":   {"unsafe"},
	"safe":       {"seguro", "segura"},
	"seguro":     {"safe"},
	"good":       {"bien", "bueno", "buena"},
	"bueno":      {"good"},
	"bad":        {"mal", "malo", "mala"},
	"malo":       {"bad"},
	"fine":       {"bien"},
	"light":      {"ligero", "ligera", "liviano"},
	"ligero":     {"light"},
	"agree":      {"deacuerdo"},
	"disagree":   {"desacuerdo"},
	"maybe":      {"quizas", "quiza", "talvez"},
	"quizas":     {"maybe"},
	"morning":    {"manana"},
	"afternoon":  {"tarde"},
	"evening":    {"noche"},
	"night":      {"noche"},
	"better":     {"mejor"},
	"worse":      {"peor"},
	"same":       {"igual"},
}
