package review_test

import (
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/review"
)

// Ten business days, Monday to Friday in the organization's zone, at the
// hour the text arrived; the warning two business days before.
func TestDeadline(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, ny) }
	for _, tt := range []struct {
		name                string
		received, due, warn time.Time
	}{
		{"a Friday: two Fridays later", at(2026, 12, 4, 12), at(2026, 12, 18, 12), at(2026, 12, 16, 12)},
		{"a Monday: two Mondays later", at(2026, 11, 30, 9), at(2026, 12, 14, 9), at(2026, 12, 10, 9)},
		{"a Saturday counts from Monday", at(2026, 12, 5, 22), at(2026, 12, 18, 22), at(2026, 12, 16, 22)},
		{"a Sunday counts from Monday", at(2026, 12, 6, 8), at(2026, 12, 18, 8), at(2026, 12, 16, 8)},
		// Clocks go forward on 8 March 2026: the same hour, not the same
		// elapsed time.
		{"across daylight saving", at(2026, 3, 6, 9), at(2026, 3, 20, 9), at(2026, 3, 18, 9)},
		// Holidays count as business days (the stricter reading):
		// Thanksgiving, 26 November 2026.
		{"a holiday counts", at(2026, 11, 20, 12), at(2026, 12, 4, 12), at(2026, 12, 2, 12)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			due, warn := review.Deadline(tt.received, ny)
			if !due.Equal(tt.due) || !warn.Equal(tt.warn) {
				t.Errorf("Deadline(%s) = due %s, warn %s; want %s, %s", tt.received, due, warn, tt.due, tt.warn)
			}
		})
	}
	// The zone decides the day: 23:00 on a Friday in New York is already
	// Saturday in UTC.
	late := at(2026, 12, 4, 23)
	if due, _ := review.Deadline(late, ny); !due.Equal(at(2026, 12, 18, 23)) {
		t.Errorf("Friday 23:00 in New York due %s, want two Fridays later", due)
	}
}
