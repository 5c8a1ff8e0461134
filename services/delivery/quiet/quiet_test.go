package quiet

import (
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	la := mustLoad(t, "America/Los_Angeles")
	at := func(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
		return time.Date(y, m, d, h, min, 0, 0, loc)
	}
	cases := []struct {
		name     string
		now      time.Time
		zones    []*time.Location
		want     time.Time
		wantOpen time.Duration
	}{
		{"inside", at(ny, 2026, 11, 28, 12, 0), []*time.Location{ny}, at(ny, 2026, 11, 28, 12, 0), 9 * time.Hour},
		{"22:30 waits for 08:00", at(ny, 2026, 11, 28, 22, 30), []*time.Location{ny}, at(ny, 2026, 11, 29, 8, 0), 13 * time.Hour},
		{"early morning", at(ny, 2026, 11, 28, 6, 15), []*time.Location{ny}, at(ny, 2026, 11, 28, 8, 0), 13 * time.Hour},
		{"21:00 is closed", at(ny, 2026, 11, 28, 21, 0), []*time.Location{ny}, at(ny, 2026, 11, 29, 8, 0), 13 * time.Hour},
		{"20:59 closes in a minute", at(ny, 2026, 11, 28, 20, 59), []*time.Location{ny}, at(ny, 2026, 11, 28, 20, 59), time.Minute},
		// 09:00 in New York is 06:00 in Los Angeles: wait for LA's 08:00,
		// and close when New York reaches 21:00.
		{"two zones agree", at(ny, 2026, 11, 28, 9, 0), []*time.Location{ny, la}, at(la, 2026, 11, 28, 8, 0), 10 * time.Hour},
		// DST begins 2027-03-14 in the US: the day is 23 hours long.
		{"dst spring forward", at(ny, 2027, 3, 14, 1, 0), []*time.Location{ny}, at(ny, 2027, 3, 14, 8, 0), 13 * time.Hour},
	}
	for _, c := range cases {
		got, open := Default.Next(c.now, c.zones)
		if !got.Equal(c.want) || open != c.wantOpen {
			t.Errorf("%s: Next = %s (open %s), want %s (open %s)", c.name, got, open, c.want, c.wantOpen)
		}
	}
}

func TestNarrowerWindow(t *testing.T) {
	w, err := Parse("10:00-18:30")
	if err != nil {
		t.Fatal(err)
	}
	ny := mustLoad(t, "America/New_York")
	got, open := w.Next(time.Date(2026, 11, 28, 9, 0, 0, 0, ny), []*time.Location{ny})
	if want := time.Date(2026, 11, 28, 10, 0, 0, 0, ny); !got.Equal(want) || open != 8*time.Hour+30*time.Minute {
		t.Fatalf("Next = %s, %s", got, open)
	}
	for _, bad := range []string{"07:00-21:00", "08:00-22:00", "12:00-11:00", "noon"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a window outside 08:00-21:00", bad)
		}
	}
}

func TestZones(t *testing.T) {
	utc := time.UTC
	zoner := NewZoner()
	for range 2 { // the second pass answers from the cache
		if z := zoner.Zones("America/Chicago", "+12125550101", utc); len(z) != 1 || z[0].String() != "America/Chicago" {
			t.Errorf("contact zone ignored: %v", z)
		}
		if z := zoner.Zones("", "+12125550101", utc); len(z) != 1 || z[0].String() != "America/New_York" {
			t.Errorf("212 area code zones = %v", z)
		}
		if z := zoner.Zones("", "+13105550101", utc); len(z) != 1 || z[0].String() != "America/Los_Angeles" {
			t.Errorf("310 area code zones = %v", z)
		}
		if z := zoner.Zones("Not/AZone", "garbage", utc); len(z) != 1 || z[0] != utc {
			t.Errorf("fallback = %v", z)
		}
	}
}
