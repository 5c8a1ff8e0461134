package events

// RankTerminal is the rank of every status that ends a message's life.
const RankTerminal = 9

// StatusRank orders message statuses: a message only ever moves to a
// higher rank, so a late or repeated report cannot move it back, in
// delivery's log or in campaigns' results. ok is false for a name that is
// no status. Delivery's SQL takes these numbers as parameters, never as
// literals.
func StatusRank(status string) (rank int, ok bool) {
	switch status {
	case StatusQueued:
		return 0, true
	case StatusSending:
		return 1, true
	case StatusUnknown:
		return 2, true
	case StatusAccepted:
		return 3, true
	case StatusSent:
		return 4, true
	case StatusDelivered, StatusUndelivered, StatusFailed, StatusSuppressed, StatusExpired, StatusCancelled:
		return RankTerminal, true
	}
	return 0, false
}
