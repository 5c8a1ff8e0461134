// Package review is the queue for the uncertain middle of members' texts:
// a reply that might be an opt-out but is not clear (consent.Review) waits
// for an organizer to decide it, at most 10 business days, the longest FCC
// order 24-18 allows for honouring a revocation; at that deadline it is
// treated as an opt-out. This file computes the deadline; reviewer.go
// decides and sweeps.
package review

import "time"

// Limits of the queue, in business days.
const (
	// DeadlineDays is how long a review may wait for a decision.
	DeadlineDays = 10
	// WarnDays is how long before the deadline the organizer is warned.
	WarnDays = 2
)

// Deadline gives when a text received at receivedAt must be decided by
// (due) and when the organizer is warned (warn, WarnDays business days
// before due), both at the same wall-clock time as the text arrived, in
// the organization's zone.
//
// Business days are Monday to Friday in zone. US federal holidays are
// counted as business days, on purpose: skipping them would move the
// deadline later than the law's strictest reading, and the member's word
// should never wait longer than it must. A text received on a weekend
// starts counting on the Monday, like one received on the Friday:
// received on a Friday, due two Fridays later.
func Deadline(receivedAt time.Time, zone *time.Location) (due, warn time.Time) {
	return AddBusinessDays(receivedAt, DeadlineDays, zone), AddBusinessDays(receivedAt, DeadlineDays-WarnDays, zone)
}

// AddBusinessDays moves t forward n business days (Monday to Friday) in
// zone, keeping its wall-clock time (a daylight-saving change on the way
// does not shift the hour). zone nil is UTC.
func AddBusinessDays(t time.Time, n int, zone *time.Location) time.Time {
	if zone == nil {
		zone = time.UTC
	}
	local := t.In(zone)
	y, m, d := local.Date()
	for n > 0 {
		d++
		switch time.Date(y, m, d, 12, 0, 0, 0, zone).Weekday() {
		case time.Saturday, time.Sunday:
		default:
			n--
		}
	}
	return time.Date(y, m, d, local.Hour(), local.Minute(), local.Second(), local.Nanosecond(), zone)
}
