package contact

import (
	"time"

	"github.com/musterhq/muster/shared/events"
)

// Consent states of an address on a channel. An address with no record is
// subscribed: members gave the union their number, and an opt-out is what
// takes them off.
const (
	Subscribed = "subscribed"
	OptedOut   = "opted_out"
)

// ConsentEvent is one entry of the consent ledger as the consent rule
// reads it.
type ConsentEvent struct {
	Change string
	Source string
	At     time.Time
}

// MemberSource reports whether a consent change came from the member (a
// STOP or START they texted, a bounce or spam report the provider saw,
// any future member-facing channel) rather than from the union's side (an
// organizer, an import). Anything not known to be the union's counts as
// the member's: the reading that protects them.
func MemberSource(source string) bool {
	return source != events.SourceOrganizer && source != events.SourceImport
}

// StandingConsent is the consent rule, from the latest member event and
// the latest union-side event for an address (either may be nil):
//
//   - a member's opt-out stands until the member opts in again, whatever
//     the union does later or did before;
//   - otherwise a union-side opt-out stands if it is newer than the
//     member's last word;
//   - otherwise the address is subscribed.
//
// It depends on the set of events, not the order they arrived in, which
// is what makes redelivered and out-of-order events harmless. It returns
// the state and the event that decided it (nil when there are none).
func StandingConsent(member, union *ConsentEvent) (string, *ConsentEvent) {
	if member != nil && member.Change != events.ConsentResubscribe {
		return OptedOut, member
	}
	if union != nil && union.Change != events.ConsentResubscribe && (member == nil || union.At.After(member.At)) {
		return OptedOut, union
	}
	switch {
	case member == nil:
		return Subscribed, union
	case union == nil || member.At.After(union.At):
		return Subscribed, member
	default:
		return Subscribed, union
	}
}
