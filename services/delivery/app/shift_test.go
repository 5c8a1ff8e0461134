package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// The shift-aware default: with the setting on, a night-shift member's
// text (DefaultWindow "nights") waits for 16:00 their time as if they had
// texted NIGHTS, unless they chose their hours themselves (DAYS here); a
// pause and its end are no such choice. With the setting off, or for a
// member whose shift is not night, nothing changes.
func TestShiftAwareDefault(t *testing.T) {
	h := newHarness(t, setup{})
	ny, _ := time.LoadLocation("America/New_York")
	y, mo, d := h.midday.In(ny).Date()
	h.clock.Set(time.Date(y, mo, d, 10, 0, 0, 0, ny))
	h.start(nil)
	night := func(r *events.SendRequested) { r.DefaultWindow = events.DefaultWindowNights }

	h.waitStatus(h.send(phone(801), "setting off", night), "delivered")

	var cur struct {
		Settings map[string]any `json:"settings"`
	}
	if code := h.get("/settings", &cur); code != 200 {
		t.Fatalf("settings = %d", code)
	}
	if cur.Settings["shift_aware_default"] != false {
		t.Fatalf("shift_aware_default = %v, want false until an admin turns it on", cur.Settings["shift_aware_default"])
	}
	cur.Settings["shift_aware_default"] = true
	cur.Settings["updated_by"] = "ana@local1199.org"
	if code := h.put("/settings", cur.Settings, &cur); code != 200 || cur.Settings["shift_aware_default"] != true {
		t.Fatalf("turning it on = %d %+v", code, cur)
	}

	four := time.Date(y, mo, d, 16, 0, 0, 0, ny)
	held := h.send(phone(802), "night shift", night)
	if until, reason := h.deferred(held); !until.Equal(four) || reason != "member_window" {
		t.Fatalf("night-shift text deferred until %s for %q, want %s for member_window", until, reason, four)
	}
	h.waitStatus(h.send(phone(803), "day shift"), "delivered")

	// DAYS is a choice of hours: the default no longer applies.
	if _, err := h.sim.SendReply(context.Background(), simReply(phone(804), "DAYS")); err != nil {
		t.Fatal(err)
	}
	h.waitStatus(h.send(phone(804), "chose days", night), "delivered")

	// PAUSE then RESUME is not: the default still holds the text.
	for _, kw := range []string{"PAUSE 3", "RESUME"} {
		if _, err := h.sim.SendReply(context.Background(), simReply(phone(805), kw)); err != nil {
			t.Fatal(err)
		}
	}
	if until, reason := h.deferred(h.send(phone(805), "paused once", night)); !until.Equal(four) || reason != "member_window" {
		t.Fatalf("after PAUSE and RESUME: deferred until %s for %q", until, reason)
	}

	// At 16:00 the held text goes.
	h.clock.Set(four)
	h.waitStatus(held, "delivered")
}
