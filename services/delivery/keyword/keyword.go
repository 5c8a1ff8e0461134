// Package keyword recognizes the compliance keywords in a member's text:
// the opt-out family (and plain-language opt-outs, which the FCC says must
// be honoured too), opt-in, and help. Campaign replies (RSVP YES, SIGN) are
// not its business: anything it does not recognize is an ordinary reply.
package keyword

import (
	"regexp"
	"strings"
	"unicode"
)

// Family is the kind of keyword a text is.
type Family string

// The families delivery acts on itself.
const (
	None   Family = ""
	OptOut Family = "opt_out"
	OptIn  Family = "opt_in"
	Help   Family = "help"
	// Yes is an opt-in only for a member who is opted out; for anyone else
	// it is a campaign reply (an RSVP). The caller decides which.
	Yes Family = "yes"
)

// Match is what a text was recognized as, and why.
type Match struct {
	Family Family
	// Reason names the rule that matched: the keyword itself, or the
	// plain-language pattern, so the organizer can see why.
	Reason string
}

var exact = map[string]Family{
	"STOP": OptOut, "STOPALL": OptOut, "STOP ALL": OptOut, "UNSUBSCRIBE": OptOut,
	"CANCEL": OptOut, "END": OptOut, "QUIT": OptOut, "REVOKE": OptOut,
	"OPTOUT": OptOut, "OPT OUT": OptOut, "OPT-OUT": OptOut,
	"START": OptIn, "UNSTOP": OptIn,
	"YES":  Yes,
	"HELP": Help, "INFO": Help,
}

// plain are opt-outs in a member's own words. Each is anchored loosely and
// tagged with a reason; they are deliberately few and specific, since a
// false match silences a member who wanted to talk.
var plain = []struct {
	re     *regexp.Regexp
	reason string
}{
	{regexp.MustCompile(`\bstop (texting|messaging|contacting|sending)\b`), "asked to stop texting"},
	{regexp.MustCompile(`\b(take|remove) me off\b`), "asked to be taken off the list"},
	{regexp.MustCompile(`^remove me\b`), "asked to be removed"},
	{regexp.MustCompile(`\b(do not|don'?t|dont) (text|contact|message|msg) me\b`), "asked not to be contacted"},
	{regexp.MustCompile(`\blose my number\b`), "asked to lose their number"},
	{regexp.MustCompile(`\bunsubscribe me\b`), "asked to unsubscribe"},
	{regexp.MustCompile(`\bno more (texts|messages)\b`), "asked for no more texts"},
	{regexp.MustCompile(`\bleave me alone\b`), "asked to be left alone"},
}

// Classify reads an inbound text. Keywords match the whole trimmed body in
// any case, ignoring trailing punctuation ("Stop." is STOP).
func Classify(body string) Match {
	norm := strings.ToUpper(strings.Join(strings.Fields(body), " "))
	norm = strings.TrimRightFunc(norm, func(r rune) bool { return unicode.IsPunct(r) && r != '-' })
	if f, ok := exact[norm]; ok {
		return Match{Family: f, Reason: norm}
	}
	lower := strings.ToLower(strings.Join(strings.Fields(body), " "))
	lower = strings.NewReplacer("\u2019", "'", "\u2018", "'").Replace(lower)
	for _, p := range plain {
		if p.re.MatchString(lower) {
			return Match{Family: OptOut, Reason: p.reason}
		}
	}
	return Match{}
}
