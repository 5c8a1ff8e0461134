package server

import (
	"testing"
	"time"
)

// A text held for a member in another zone says when it goes on their
// clock too; one whose member's zone is unknown says nothing more.
func TestHeldTextsSayTheirTime(t *testing.T) {
	la, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	next := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC) // 16:00 in Los Angeles
	if got := (heldReason{Next: next, NextZone: la}).TheirTime(); got != "16:00" {
		t.Errorf("their time = %q, want 16:00", got)
	}
	if got := (heldReason{Next: next}).TheirTime(); got != "" {
		t.Errorf("their time without a zone = %q, want nothing", got)
	}
	if got := (heldReason{NextZone: la}).TheirTime(); got != "" {
		t.Errorf("their time of a text that waits for nothing = %q, want nothing", got)
	}
}
