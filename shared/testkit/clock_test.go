package testkit

import (
	"testing"
	"time"
)

func TestNextOffsetChangeFindsTheDaylightSavingChange(t *testing.T) {
	from := time.Date(2026, 12, 6, 1, 23, 0, 0, time.UTC)
	got, err := nextOffsetChange("America/New_York", from)
	if err != nil {
		t.Fatal(err)
	}
	// 02:00 EST on 14 March 2027 becomes 03:00 EDT.
	if want := time.Date(2027, 3, 14, 7, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next change = %s, want %s", got, want)
	}
	if _, err := nextOffsetChange("Asia/Kolkata", from); err == nil {
		t.Fatal("a zone without daylight saving reported a change")
	}
}

func TestClockShiftMovesTheClock(t *testing.T) {
	t.Setenv(ClockShiftEnv, "12h")
	c := NewClock(t)
	if d := time.Until(c.Now()); d < 12*time.Hour-time.Minute || d > 12*time.Hour+time.Minute {
		t.Fatalf("shifted clock is %s from the real one, want 12h", d)
	}
	t.Setenv(ClockShiftEnv, "next-dst:America/New_York")
	at := NewClock(t).Now()
	change, err := nextOffsetChange("America/New_York", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d := change.Sub(at); d < 50*time.Second || d > time.Minute {
		t.Fatalf("clock starts %s before the change, want about a minute", d)
	}
}

func TestSetMiddayKeepsTheShiftedDay(t *testing.T) {
	c := &Clock{}
	c.Set(time.Date(2027, 3, 14, 6, 59, 0, 0, time.UTC)) // 01:59 EST, the night of the change
	noon := c.SetMidday(t, "America/New_York")
	if want := time.Date(2027, 3, 14, 16, 0, 0, 0, time.UTC); !noon.Equal(want) {
		t.Fatalf("midday = %s, want noon EDT on the 14th (%s)", noon, want)
	}
	if d := c.Now().Sub(noon); d < 0 || d > time.Second {
		t.Fatalf("clock reads %s after SetMidday, want %s", c.Now(), noon)
	}
}
