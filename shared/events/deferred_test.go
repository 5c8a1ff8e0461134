package events

import (
	"testing"
	"time"
)

// What delivery says of a held text, campaigns reads back: every reason.
func TestDeferredReasonRoundTrips(t *testing.T) {
	until := time.Date(2026, 12, 8, 21, 0, 0, 0, time.UTC)
	for _, r := range []string{DeferQuietHours, DeferStateRule, DeferMemberWindow, DeferPause, DeferFewerTexts, DeferCap} {
		s := DeferredReason(r, until.In(time.FixedZone("x", -5*3600)))
		got, at, ok := ParseDeferred(s)
		if !ok || got != r || !at.Equal(until) {
			t.Errorf("%q read back as %q %s %v", s, got, at, ok)
		}
	}
	for _, s := range []string{"", "30003 unreachable handset", "deferred for cap", "deferred for cap until tomorrow"} {
		if _, _, ok := ParseDeferred(s); ok {
			t.Errorf("%q read as a deferral", s)
		}
	}
}
