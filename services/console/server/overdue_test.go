package server

import (
	"testing"
	"time"
)

func TestWindowTimeCountsOnlyInsideTheWindow(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, ny)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		from, to, window string
		want             time.Duration
	}{
		{"2026-03-02 10:00", "2026-03-02 14:00", "09:00-20:00", 4 * time.Hour},
		{"2026-03-02 19:00", "2026-03-03 10:00", "09:00-20:00", 2 * time.Hour},  // night not counted
		{"2026-03-02 22:00", "2026-03-03 08:00", "09:00-20:00", 0},              // all night
		{"2026-03-02 23:00", "2026-03-03 03:00", "22:00-02:00", 3 * time.Hour},  // past midnight
		{"2026-03-07 19:00", "2026-03-08 12:00", "09:00-20:00", 4 * time.Hour},  // DST day: clock hours
		{"2026-03-02 10:00", "2026-03-02 12:30", "", 150 * time.Minute},         // no window: every hour
		{"2026-03-02 10:00", "2026-03-05 10:00", "16:00-21:00", 15 * time.Hour}, // three evenings
		{"2026-03-02 12:00", "2026-03-02 11:00", "09:00-20:00", 0},              // backwards
	} {
		if got := windowTime(at(c.from), at(c.to), c.window, ny); got != c.want {
			t.Errorf("%s to %s in %q = %v, want %v", c.from, c.to, c.window, got, c.want)
		}
	}
}

func TestOverdueUsesTheMembersWindowElseTheOrganizations(t *testing.T) {
	utc := time.UTC
	now := time.Date(2026, 3, 3, 10, 0, 0, 0, utc)
	rule := overdueRule{within: 4 * time.Hour, orgWindow: "08:00-20:00", orgZone: utc, now: now}
	got := time.Date(2026, 3, 2, 19, 0, 0, 0, utc) // 1h yesterday + 2h this morning = 3h
	if rule.overdue(got, "", "") {
		t.Error("3 hours inside the org's window is not overdue")
	}
	if !rule.overdue(got, "00:00-23:59", "UTC") {
		t.Error("the member's own all-day window counts 15 hours: overdue")
	}
	if rule.overdue(now.Add(-time.Hour), "", "") {
		t.Error("one hour on the wall clock is never overdue")
	}
}
