package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test if it has not
// within 30 seconds (a bound for a slow machine, never a measure of speed).
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
