package server

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Overdue replies. A member's reply waits for an answer; the time it has
// waited counts only inside the member's window: the hours the member
// chose (their rhythm, "16:00-21:00", as contacts keeps it from
// delivery) or, when they chose none, the organization's sending window
// (delivery's settings), in the member's time zone, else the
// organization's: the hours delivery would send them an answer in.
// Past the organization's reply deadline (default 4 hours, an admin's
// setting) an open conversation is overdue: flagged on every list, under
// the inbox's "Overdue" filter and counted on the dashboard, for everyone
// to pick up. The window is what delivery would use to send the answer,
// so a reply that arrives at night is not overdue by morning.

// dailyWindow is "HH:MM-HH:MM" as minutes after midnight; a window whose
// end is not after its start runs past midnight.
type dailyWindow struct{ start, end int }

func parseDailyWindow(s string) (dailyWindow, bool) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return dailyWindow{}, false
	}
	minutes := func(hm string) (int, bool) {
		h, m, ok := strings.Cut(strings.TrimSpace(hm), ":")
		if !ok {
			return 0, false
		}
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
			return 0, false
		}
		return hh*60 + mm, true
	}
	start, ok1 := minutes(a)
	end, ok2 := minutes(b)
	if !ok1 || !ok2 || start == end {
		return dailyWindow{}, false
	}
	return dailyWindow{start, end}, true
}

// windowTime is how much of [from, to) falls inside the window in loc;
// with no window, all of it. Days are walked in loc, so a day that DST
// makes 23 or 25 hours long counts the hours the clock shows.
func windowTime(from, to time.Time, window string, loc *time.Location) time.Duration {
	if !to.After(from) {
		return 0
	}
	w, ok := parseDailyWindow(window)
	if !ok {
		return to.Sub(from)
	}
	if loc == nil {
		loc = time.UTC
	}
	var total time.Duration
	f := from.In(loc)
	day := time.Date(f.Year(), f.Month(), f.Day()-1, 0, 0, 0, 0, loc)
	for i := 0; i < 400; i++ {
		d := day.AddDate(0, 0, i)
		open := time.Date(d.Year(), d.Month(), d.Day(), 0, w.start, 0, 0, loc)
		endDay := d
		if w.end <= w.start {
			endDay = d.AddDate(0, 0, 1)
		}
		closeAt := time.Date(endDay.Year(), endDay.Month(), endDay.Day(), 0, w.end, 0, 0, loc)
		if !open.Before(to) {
			break
		}
		lo, hi := open, closeAt
		if from.After(lo) {
			lo = from
		}
		if to.Before(hi) {
			hi = to
		}
		if hi.After(lo) {
			total += hi.Sub(lo)
		}
	}
	return total
}

// overdueRule is what flags a conversation overdue: the deadline and the
// organization's window and zone for members without their own.
type overdueRule struct {
	within    time.Duration
	orgWindow string
	orgZone   *time.Location
	now       time.Time
}

// overdueRule reads the deadline and the organization's window; when
// delivery cannot say, every hour counts (and it is logged).
func (s *Server) overdueRule(ctx context.Context) overdueRule {
	rule := overdueRule{now: s.Now(), orgZone: time.UTC}
	d, err := s.Store.ReplyDeadline(ctx)
	if err != nil {
		s.Log.Warn("inbox: reply deadline not read; using the default", zap.Error(err))
	}
	rule.within = d.Within
	if rule.within <= 0 {
		rule.within = 4 * time.Hour
	}
	var doc messagingDoc
	if err := s.Services.Delivery.JSON(ctx, http.MethodGet, "/settings", nil, &doc); err != nil {
		s.Log.Warn("inbox: the organization's window not read; counting every hour", zap.Error(err))
		return rule
	}
	m := doc.Settings
	rule.orgWindow = m.SendWindow
	if loc, err := time.LoadLocation(m.TimeZone); err == nil && m.TimeZone != "" {
		rule.orgZone = loc
	}
	return rule
}

// maybe reports whether a reply received at could be overdue at all: the
// window only ever counts less than the wall clock.
func (o overdueRule) maybe(at time.Time) bool { return o.now.Sub(at) >= o.within }

// overdue reports whether a reply received at, still open, is overdue for
// a member with their own window (or none) and time zone.
func (o overdueRule) overdue(at time.Time, window, zone string) bool {
	if !o.maybe(at) {
		return false
	}
	loc := o.orgZone
	if l, err := time.LoadLocation(zone); err == nil && zone != "" {
		loc = l
	}
	if window == "" {
		window = o.orgWindow
	}
	return windowTime(at, o.now, window, loc) >= o.within
}
