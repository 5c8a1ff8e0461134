// Package status is the life of one message: the statuses it can be in,
// the order they come in, and the rule that a message only ever moves
// forward, however late or out of order the provider's callbacks arrive.
// It is the neutral vocabulary every provider package maps its own
// statuses onto.
package status

import (
	"fmt"

	"github.com/musterhq/muster/shared/events"
)

// Status is where a message is.
type Status string

// The statuses, in the order a message moves through them.
const (
	Queued      Status = events.StatusQueued    // recorded, not yet handed to a provider
	Sending     Status = events.StatusSending   // a provider call is in flight
	Unknown     Status = events.StatusUnknown   // the call's outcome is unknown; to reconcile
	Accepted    Status = events.StatusAccepted  // the provider took it
	Sent        Status = events.StatusSent      // the provider handed it to the carrier
	Delivered   Status = events.StatusDelivered // terminal
	Undelivered Status = events.StatusUndelivered
	Failed      Status = events.StatusFailed
	Suppressed  Status = events.StatusSuppressed
	Expired     Status = events.StatusExpired
	Cancelled   Status = events.StatusCancelled
)

// Parse accepts a status name.
func Parse(s string) (Status, error) {
	st := Status(s)
	if _, ok := events.StatusRank(s); !ok {
		return "", fmt.Errorf("unknown message status %q", s)
	}
	return st, nil
}

// Terminal reports whether a message in s has ended its life.
func (s Status) Terminal() bool { return s.Rank() == events.RankTerminal }

// Rank orders statuses; a message moves only to a higher rank. The order
// is the shared contract (events.StatusRank), which campaigns' results
// follow too; the store's SQL takes these numbers as parameters.
func (s Status) Rank() int {
	r, _ := events.StatusRank(string(s))
	return r
}

// CanMove reports whether a message in from may move to to. Terminal
// statuses never move, so a late "sent" cannot undo "delivered".
func CanMove(from, to Status) bool { return to.Rank() > from.Rank() }
