package server

import (
	"reflect"
	"testing"
	"time"
)

// The campaign page says what holds the waiting texts, most first, and
// when the last is due in the organization's zone.
func TestWaitingWords(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	last := time.Date(2026, 12, 8, 21, 0, 0, 0, time.UTC)
	got := waitingWords(results{Deferred: 5, DeferredByReason: map[string]int64{"pause": 1, "member_window": 3, "state_rule": 1, "cap": 0},
		DeferredLastUntil: &last}, ny)
	want := []string{
		"3 wait for the member's own hours",
		"1 wait for the member's pause to end",
		"1 wait for their state's hours or daily limit",
		"Last one due Tue 8 Dec 16:00 EST",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("waiting = %q, want %q", got, want)
	}
	if got := waitingWords(results{}, ny); len(got) != 0 {
		t.Errorf("nothing waiting = %q", got)
	}
}
