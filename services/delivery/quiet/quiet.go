// Package quiet keeps texts inside the hours a member can be texted: by
// default 08:00 to 21:00 in the member's local time (47 CFR 64.1200(c)(1)),
// narrower if configured. A text outside the window is deferred to the
// next opening, never dropped.
package quiet

import (
	"fmt"
	"sync"
	"time"

	"github.com/musterhq/muster/shared/phone"
)

// Window is the part of each local day in which texts may arrive, as
// offsets from local midnight: Start inclusive, End exclusive.
type Window struct {
	Start time.Duration
	End   time.Duration
}

// Default is 08:00 to 21:00, the federal floor.
var Default = Window{Start: 8 * time.Hour, End: 21 * time.Hour}

// Parse reads "08:00-21:00".
func Parse(s string) (Window, error) {
	var sh, sm, eh, em int
	if _, err := fmt.Sscanf(s, "%d:%d-%d:%d", &sh, &sm, &eh, &em); err != nil {
		return Window{}, fmt.Errorf("parsing window %q: want HH:MM-HH:MM", s)
	}
	w := Window{Start: time.Duration(sh)*time.Hour + time.Duration(sm)*time.Minute, End: time.Duration(eh)*time.Hour + time.Duration(em)*time.Minute}
	return w, w.Validate()
}

// Validate refuses a window that is empty or wraps past midnight, and one
// wider than the federal 08:00 to 21:00.
func (w Window) Validate() error {
	if w.Start < Default.Start || w.End > Default.End || w.Start >= w.End {
		return fmt.Errorf("window %s is not inside 08:00-21:00", w)
	}
	return nil
}

func (w Window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", int(w.Start.Hours()), int(w.Start.Minutes())%60, int(w.End.Hours()), int(w.End.Minutes())%60)
}

// bounds returns the window's opening and closing on the local day of t.
// Wall-clock arithmetic through time.Date keeps DST days right.
func (w Window) bounds(t time.Time) (open, close time.Time) {
	y, m, d := t.Date()
	loc := t.Location()
	at := func(off time.Duration) time.Time {
		return time.Date(y, m, d, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, loc)
	}
	return at(w.Start), at(w.End)
}

// nextOpen is the first instant at or after t that is inside the window
// in loc, and when that stretch of the window closes.
func (w Window) nextOpen(t time.Time, loc *time.Location) (time.Time, time.Time) {
	local := t.In(loc)
	open, close := w.bounds(local)
	switch {
	case local.Before(open):
		return open, close
	case local.Before(close):
		return t, close
	default:
		y, m, d := local.Date()
		return w.bounds(time.Date(y, m, d+1, 12, 0, 0, 0, loc))
	}
}

// Next returns the earliest instant at or after now at which every zone is
// inside the window, and how long the window stays open from then (until
// it first closes in any zone). A member whose zone is uncertain gets the
// hours all candidate zones agree on.
func (w Window) Next(now time.Time, zones []*time.Location) (time.Time, time.Duration) {
	if len(zones) == 0 {
		zones = []*time.Location{time.UTC}
	}
	t := now
	// Each pass moves t to the latest next-opening; zones are at most a
	// day apart, so a few passes settle it.
	for range 8 {
		latest, earliestClose := t, time.Time{}
		for _, loc := range zones {
			open, close := w.nextOpen(t, loc)
			if open.After(latest) {
				latest = open
			}
			if earliestClose.IsZero() || close.Before(earliestClose) {
				earliestClose = close
			}
		}
		if latest.Equal(t) && earliestClose.After(t) {
			return t, earliestClose.Sub(t)
		}
		t = latest
	}
	return t, 0
}

// Zoner finds where a member is. It caches time zones by name: loading
// one reads the zoneinfo database from disk, too slow to do per message.
type Zoner struct {
	cache sync.Map // zone name -> *time.Location, or nil for unknown
}

// NewZoner builds a zoner.
func NewZoner() *Zoner { return &Zoner{} }

func (z *Zoner) load(name string) *time.Location {
	if v, ok := z.cache.Load(name); ok {
		loc, _ := v.(*time.Location)
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	z.cache.Store(name, loc)
	return loc
}

// Zones returns the member's own time zone when the contact has one, else
// the zones their number's area code covers, else fallback (the
// organization's zone).
func (z *Zoner) Zones(timeZone, number string, fallback *time.Location) []*time.Location {
	if timeZone != "" {
		if loc := z.load(timeZone); loc != nil {
			return []*time.Location{loc}
		}
	}
	var locs []*time.Location
	for _, name := range phone.TimeZones(number) {
		if loc := z.load(name); loc != nil {
			locs = append(locs, loc)
		}
	}
	if len(locs) > 0 {
		return locs
	}
	if fallback == nil {
		fallback = time.UTC
	}
	return []*time.Location{fallback}
}
