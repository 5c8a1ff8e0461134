package rhythm

import (
	"time"

	"github.com/musterhq/muster/services/delivery/quiet"
)

// Why a text waits: the defer_reason the message log shows. A reason
// names what holds the text at the moment it is deferred; the text is
// never dropped for any of them, only an event that has passed (NotAfter)
// ends it, expired.
const (
	// ReasonQuietHours: outside the organization's window (08:00 to 21:00
	// at most, 47 CFR 64.1200(c)(1)).
	ReasonQuietHours = "quiet_hours"
	// ReasonStateRule: outside the member's state's stricter hours, or
	// over its messages-per-24-hours limit.
	ReasonStateRule = "state_rule"
	// ReasonMemberWindow: outside the hours the member chose (NIGHTS, the
	// preferences page).
	ReasonMemberWindow = "member_window"
	// ReasonPause: the member paused texts (PAUSE n).
	ReasonPause = "pause"
	// ReasonFewerTexts: the member asked for at most one text a week
	// (LESS) and has had it.
	ReasonFewerTexts = "fewer_texts"
	// ReasonCap: the organization's frequency cap; the one rule an urgent
	// alert may bypass.
	ReasonCap = "cap"
)

// horizon is how many days ahead an opening is looked for. Every window
// the rules allow opens at least once a week; a member's window that
// never meets their state's finds none (see Limits.Next).
const horizon = 14

// Limits are everything that bounds when one member may get a text: the
// organization's window, their state's hours, their own window and pause.
// The allowed hours on a day are the intersection of the three windows,
// in the member's local time.
type Limits struct {
	Org quiet.Window
	// State is nil when the member's state is unknown or has no rule.
	State *StateRule
	// Member is nil when the member keeps the organization's window.
	Member *quiet.Window
	// PausedUntil is zero when the member has not paused texts.
	PausedUntil time.Time
}

// Opening is when a text may go out.
type Opening struct {
	// At is now when the text may go at once.
	At time.Time
	// Open is how long every zone's window stays open from At (Twilio's
	// ValidityPeriod is bounded by it, so a queued text cannot arrive
	// after the window closes).
	Open time.Duration
	// Reason says what holds the text until At; empty when At is now.
	Reason string
	// Found is false when no opening exists within two weeks (a member's
	// window that does not meet their state's hours on any day): At is
	// then a day on, to look again.
	Found bool
}

// Window is the allowed hours on the local day of date (any time of that
// day in the member's zone), and false when there are none that day.
func (l Limits) Window(date time.Time) (quiet.Window, bool) {
	return l.window(date, true, true)
}

func (l Limits) window(date time.Time, state, member bool) (quiet.Window, bool) {
	w := l.Org
	if state && l.State != nil {
		w = intersect(w, l.State.Windows[date.Weekday()])
	}
	if member && l.Member != nil {
		w = intersect(w, *l.Member)
	}
	return w, w.Start < w.End
}

func intersect(a, b quiet.Window) quiet.Window {
	return quiet.Window{Start: max(a.Start, b.Start), End: min(a.End, b.End)}
}

// Next returns the first instant at or after now at which a text may go:
// past the pause, inside the allowed hours in every one of zones (a member
// whose zone is uncertain gets the hours all candidate zones agree on),
// with at least minOpen of the window left (closer to its end, the text
// waits for the next day's window). The reason names the rule that binds:
// the pause while it lasts, else the narrowest of the organization's
// window, the state's hours and the member's window that moves the
// opening.
func (l Limits) Next(now time.Time, zones []*time.Location, minOpen time.Duration) Opening {
	if len(zones) == 0 {
		zones = []*time.Location{time.UTC}
	}
	start := now
	if l.PausedUntil.After(now) {
		start = l.PausedUntil
	}
	at, open, ok := next(start, zones, minOpen, l.Window)
	if !ok {
		return Opening{At: now.Add(24 * time.Hour), Reason: ReasonMemberWindow}
	}
	o := Opening{At: at, Open: open, Found: true}
	switch {
	case !at.After(now):
		o.At = now
	case l.PausedUntil.After(now):
		o.Reason = ReasonPause
	default:
		o.Reason = l.binding(now, zones, minOpen, at)
	}
	return o
}

// binding names the rule that holds a text from now until at: the
// member's window when it alone moves the opening later, else the state's
// hours, else the organization's window.
func (l Limits) binding(now time.Time, zones []*time.Location, minOpen time.Duration, at time.Time) string {
	legal, _, ok := next(now, zones, minOpen, func(d time.Time) (quiet.Window, bool) { return l.window(d, true, false) })
	if ok && at.After(legal) {
		return ReasonMemberWindow
	}
	org, _, ok := next(now, zones, minOpen, func(d time.Time) (quiet.Window, bool) { return l.window(d, false, false) })
	if ok && legal.After(org) {
		return ReasonStateRule
	}
	return ReasonQuietHours
}

// next is the first instant at or after t inside day's window in every
// zone with minOpen left, and how long it stays open.
func next(t time.Time, zones []*time.Location, minOpen time.Duration, day func(time.Time) (quiet.Window, bool)) (time.Time, time.Duration, bool) {
	// Each pass moves t to the latest next opening among the zones, or
	// past a stretch too short to send into; zones are at most a day
	// apart, so a few passes settle it.
	for range 4 * horizon {
		latest, earliestClose := t, time.Time{}
		for _, loc := range zones {
			open, close, ok := nextOpen(t, loc, day)
			if !ok {
				return time.Time{}, 0, false
			}
			if open.After(latest) {
				latest = open
			}
			if earliestClose.IsZero() || close.Before(earliestClose) {
				earliestClose = close
			}
		}
		if !latest.Equal(t) {
			t = latest
			continue
		}
		if left := earliestClose.Sub(t); left > 0 && left >= minOpen {
			return t, left, true
		}
		t = earliestClose
	}
	return time.Time{}, 0, false
}

// nextOpen is the first instant at or after t inside day's window in loc,
// and when that stretch closes. Wall-clock arithmetic through time.Date
// keeps daylight-saving days right: 08:00 is 08:00 on the day the clocks
// change, and that day's window is an hour longer or shorter in real time.
func nextOpen(t time.Time, loc *time.Location, day func(time.Time) (quiet.Window, bool)) (time.Time, time.Time, bool) {
	y, m, d := t.In(loc).Date()
	for i := range horizon + 1 {
		date := time.Date(y, m, d+i, 12, 0, 0, 0, loc)
		w, ok := day(date)
		if !ok {
			continue
		}
		open, close := at(date, w.Start), at(date, w.End)
		switch {
		case !t.Before(close):
			continue // today's window is over
		case t.Before(open):
			return open, close, true
		default:
			return t, close, true
		}
	}
	return time.Time{}, time.Time{}, false
}

// at is the wall-clock time off after midnight on date's local day.
func at(date time.Time, off time.Duration) time.Time {
	y, m, d := date.Date()
	return time.Date(y, m, d, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, date.Location())
}

// Late reports whether a text that could go at at would arrive after its
// event has begun (notAfter; zero when it has none): such a text is not
// sent late, it ends expired.
func Late(at, notAfter time.Time) bool {
	return !notAfter.IsZero() && !at.Before(notAfter)
}
