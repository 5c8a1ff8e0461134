package testkit

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ClockShiftEnv names the test-only setting that moves every test clock:
// a Go duration ("12h", "-36h", "2400h"), or "next-dst:ZONE" to start each
// clock one minute before ZONE's next daylight-saving change, so the test
// runs across it. `make test-clock` runs the time-sensitive tests with it.
// Services never read it; only test clocks built by NewClock do.
const ClockShiftEnv = "MUSTER_TEST_CLOCK_SHIFT"

// ClockShift is the shift MUSTER_TEST_CLOCK_SHIFT asks for, zero when it
// is unset. A value it cannot read fails the test: a typo must not
// quietly run the suite at the real time.
func ClockShift(t testing.TB) time.Duration {
	t.Helper()
	v := os.Getenv(ClockShiftEnv)
	if v == "" {
		return 0
	}
	if zone, ok := strings.CutPrefix(v, "next-dst:"); ok {
		now := time.Now()
		change, err := nextOffsetChange(zone, now)
		if err != nil {
			t.Fatalf("%s=%q: %v", ClockShiftEnv, v, err)
		}
		return change.Add(-time.Minute).Sub(now)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", ClockShiftEnv, v, err)
	}
	return d
}

// nextOffsetChange is the first instant after from at which zone's UTC
// offset changes (a daylight-saving change), to the second.
func nextOffsetChange(zone string, from time.Time) (time.Time, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, err
	}
	_, offset := from.In(loc).Zone()
	lo := from
	for hi := from.Add(time.Hour); hi.Sub(from) < 400*24*time.Hour; lo, hi = hi, hi.Add(time.Hour) {
		if _, o := hi.In(loc).Zone(); o == offset {
			continue
		}
		for hi.Sub(lo) > time.Second { // the change lies in (lo, hi]
			mid := lo.Add(hi.Sub(lo) / 2)
			if _, o := mid.In(loc).Zone(); o == offset {
				lo = mid
			} else {
				hi = mid
			}
		}
		return hi.Truncate(time.Second), nil
	}
	return time.Time{}, fmt.Errorf("%s does not change its offset within 400 days", zone)
}

// Clock is a test's time: the real clock, so leases, timers and waits
// behave as in production, moved by an offset. It starts at the real time
// shifted by MUSTER_TEST_CLOCK_SHIFT; Set and Advance move it further.
// Hand its Now to a service as the service's clock: the service then
// writes and compares every time through it (docs/delivery.md, "One
// clock").
type Clock struct {
	offset atomic.Int64
}

// NewClock returns the real clock shifted by MUSTER_TEST_CLOCK_SHIFT.
func NewClock(t testing.TB) *Clock {
	t.Helper()
	c := &Clock{}
	c.offset.Store(int64(ClockShift(t)))
	return c
}

// Now is the clock's current time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Set moves the clock so that it reads at now, and runs on from there.
func (c *Clock) Set(at time.Time) { c.offset.Store(int64(time.Until(at))) }

// Advance moves the clock forward by d (back, when d is negative).
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// SetMidday moves the clock to noon of its own current day in zone (an
// IANA name) and returns that time. Tests that are not about quiet hours
// start there, so they send whatever the hour on the machine, and a
// shifted clock still picks the shifted day (a Sunday, a daylight-saving
// change).
func (c *Clock) SetMidday(t testing.TB, zone string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	y, m, d := c.Now().In(loc).Date()
	noon := time.Date(y, m, d, 12, 0, 0, 0, loc)
	c.Set(noon)
	return noon
}
