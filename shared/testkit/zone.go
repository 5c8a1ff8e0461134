package testkit

import (
	"fmt"
	"time"
)

// DaytimeZone is a fixed-offset zone in which it is now between 12:00 and
// 13:00 by the real clock, so a test that runs a service as a separate
// process (which keeps the real clock) and is not about quiet hours sends
// whatever the hour. In-process services take a testkit.Clock instead.
func DaytimeZone() string { return daytimeZoneAt(time.Now()) }

// daytimeZoneAt is DaytimeZone at the instant now.
func daytimeZoneAt(now time.Time) string {
	offset := 12 - now.UTC().Hour()
	if offset > 12 {
		offset -= 24
	}
	if offset < -12 {
		offset += 24
	}
	// Etc/GMT signs are inverted: Etc/GMT-5 is UTC+5.
	if offset >= 0 {
		return fmt.Sprintf("Etc/GMT-%d", offset)
	}
	return fmt.Sprintf("Etc/GMT+%d", -offset)
}
