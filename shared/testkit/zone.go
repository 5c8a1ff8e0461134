package testkit

import (
	"fmt"
	"time"
)

// DaytimeZone is a fixed-offset zone in which it is now about noon, so a
// test that is not about quiet hours sends whatever the hour.
func DaytimeZone() string {
	offset := 12 - time.Now().UTC().Hour()
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
