package testkit

import (
	"testing"
	"time"
)

// Whatever the hour, the zone DaytimeZone picks has it past noon and
// hours before the 21:00 quiet hours begin.
func TestDaytimeZoneIsMiddayAtEveryHour(t *testing.T) {
	day := time.Date(2027, 3, 14, 0, 0, 0, 0, time.UTC)
	for m := 0; m < 24*60; m += 7 {
		now := day.Add(time.Duration(m) * time.Minute)
		name := daytimeZoneAt(now)
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatalf("%s: %s: %v", now, name, err)
		}
		if h := now.In(loc).Hour(); h != 12 {
			t.Fatalf("at %s UTC the zone %s reads %s, want the 12 o'clock hour", now.Format("15:04"), name, now.In(loc).Format("15:04"))
		}
	}
}
