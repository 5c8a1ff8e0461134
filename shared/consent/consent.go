// Package consent is Muster's opt-out policy in one place: what a member's
// text means (Read), which words are the members' and may not be a
// campaign's (Reserved), what suppresses an address and who may lift a
// suppression (Standing, MayLift, Suppresses), and how a consent change is
// recorded (Change). Delivery's webhooks, the SendGrid events, contacts'
// ledger and organizer actions, imports and campaigns' keyword check all
// ask it; none repeats its words or rules.
//
// The law it follows (FCC order 24-18, 47 CFR 64.1200(a)(10)) lets a member
// revoke consent by any reasonable means, so reading errs toward the
// member: the listed keywords alone or with a few polite words, the stop
// sign, plain phrasings, common misspellings and Spanish are opt-outs. A
// text that might be one but is not clear is Review: an organizer decides
// it, and at its deadline it counts as an opt-out.
package consent

// Meaning is what a member's text asks for.
type Meaning string

// The meanings Read returns.
const (
	// None is an ordinary reply: a person talking, an RSVP, a signature.
	None Meaning = ""
	// OptOut revokes consent to texts.
	OptOut Meaning = "opt_out"
	// Review might be an opt-out; an organizer decides before the
	// deadline, after which it counts as one.
	Review Meaning = "possible_opt_out"
	// OptIn lifts the member's own opt-out (START, UNSTOP, and in Spanish
	// COMENZAR, REANUDAR... see optIn).
	OptIn Meaning = "opt_in"
	// Help asks who is texting and how to stop.
	Help Meaning = "help"
	// Yes is an opt-in only for a member who is opted out; for anyone else
	// it is a campaign reply (an RSVP). The caller decides which.
	Yes Meaning = "yes"
	// Join is the organization's text-to-join keyword (JOIN, UNETE by
	// default): subscribe the sender, with the message as evidence.
	Join Meaning = "join"

	// The member's own rhythm (see Reading.Days for PAUSE).
	Nights Meaning = "nights"
	Days   Meaning = "days"
	Pause  Meaning = "pause"
	Resume Meaning = "resume"
	Less   Meaning = "less"
	More   Meaning = "more"
	Prefs  Meaning = "prefs"
)

// Keyword reports whether the meaning is one delivery answers itself, as
// opposed to an ordinary reply that goes to the organizers' inbox.
func (m Meaning) Keyword() bool { return m != None && m != Review }

// Languages a reading can be in. Replies to keywords go out in the
// member's language.
const (
	English = "en"
	Spanish = "es"
)

// Reading is what Read made of a text, and why.
type Reading struct {
	Meaning Meaning
	// Reason names the rule that matched (the keyword itself or the
	// phrasing), so an organizer can see why.
	Reason string
	// Lang is the language of the words that matched: "es" for a Spanish
	// keyword or phrasing, "en" otherwise.
	Lang string
	// Days is PAUSE's argument: 30 when none was given.
	Days int
	// Problem explains a keyword whose argument could not be used
	// ("PAUSE 9999", "PAUSE abc"): the meaning stays Pause, and the caller
	// replies with Problem and changes nothing.
	Problem string
}
