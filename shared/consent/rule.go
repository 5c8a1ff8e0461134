package consent

import (
	"slices"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// Consent states of an address on a channel. An address with no record is
// subscribed: members gave the union their address, and an opt-out is
// what takes them off.
const (
	Subscribed = "subscribed"
	OptedOut   = "opted_out"
)

// Event is one entry of the consent ledger as the rules read it.
type Event struct {
	Change string
	Source string
	At     time.Time
}

// MemberSource reports whether a consent change came from the member (a
// STOP, START or JOIN they texted, an email unsubscribe, a bounce or spam
// report the provider saw, the preferences page) rather than from the
// union's side (an organizer, an import, the API). Anything not known to
// be the union's counts as the member's: the reading that protects them.
func MemberSource(source string) bool {
	return !slices.Contains(UnionSources(), source)
}

// UnionSources are the sources of the union's side, for queries that must
// tell them from the member's.
func UnionSources() []string {
	return []string{events.SourceOrganizer, events.SourceImport, events.SourceAPI}
}

// Suppresses reports whether a change takes an address off: an opt-out, a
// hard bounce or a complaint.
func Suppresses(change string) bool {
	switch change {
	case events.ConsentOptedOut, events.ConsentBounced, events.ConsentComplained:
		return true
	}
	return false
}

// MayLift reports whether a subscribe from liftSource may lift an opt-out
// recorded by optOutSource: only the member's own opt-in lifts the
// member's own opt-out; the union may lift only what the union did.
func MayLift(optOutSource, liftSource string) bool {
	return MemberSource(liftSource) || !MemberSource(optOutSource)
}

// Standing is the consent rule, from the latest member event and the
// latest union-side event for an address (either may be nil):
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
func Standing(member, union *Event) (string, *Event) {
	if member != nil && !subscribes(member.Change) {
		return OptedOut, member
	}
	if union != nil && !subscribes(union.Change) && (member == nil || union.At.After(member.At)) {
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

func subscribes(change string) bool {
	return change == events.ConsentResubscribe || change == events.ConsentSubscribed
}
