package pause

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/musterhq/muster/services/delivery/metrics"
)

// A refusal pauses once (one error line, however many sends were in
// flight); only one probe goes per window, a refused probe doubles the
// wait up to MaxProbe, and the first accepted send resumes.
func TestGatePausesProbesAndResumes(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	core, logs := observer.New(zapcore.InfoLevel)
	m := metrics.New(prometheus.NewRegistry())
	g := New("sms", "twilio", m, func() time.Time { return now }, zap.New(core))
	refused := errors.New("401")

	if ok, _ := g.Allow(); !ok {
		t.Fatal("an open gate refused a send")
	}
	for range 10 { // ten sends in flight when the credentials broke
		if wait := g.Refused("20003", refused); wait != FirstProbe {
			t.Fatalf("wait = %s, want %s", wait, FirstProbe)
		}
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 1 {
		t.Fatalf("%d error lines, want 1", n)
	}
	if v := testutil.ToFloat64(m.Paused.WithLabelValues("sms")); v != 1 {
		t.Fatalf("paused gauge = %v", v)
	}
	if v := testutil.ToFloat64(m.AuthFailures.WithLabelValues("twilio")); v != 10 {
		t.Fatalf("auth failures = %v, want 10", v)
	}
	if ok, wait := g.Allow(); ok || wait != FirstProbe {
		t.Fatalf("Allow during the pause = %v, %s", ok, wait)
	}

	want := FirstProbe
	for range 8 {
		now = now.Add(want)
		if ok, _ := g.Allow(); !ok {
			t.Fatal("no probe when its window came")
		}
		if ok, _ := g.Allow(); ok {
			t.Fatal("two probes in one window")
		}
		want = min(want*2, MaxProbe)
		if wait := g.Refused("20003", refused); wait != want {
			t.Fatalf("after a refused probe wait = %s, want %s", wait, want)
		}
	}
	if want != MaxProbe {
		t.Fatalf("back-off reached %s, want the cap %s", want, MaxProbe)
	}

	// A window the sweeper took and did not use goes to the next caller.
	now = now.Add(want)
	if ok, _ := g.Allow(); !ok {
		t.Fatal("no probe when its window came")
	}
	g.Unused()
	if ok, _ := g.Allow(); !ok {
		t.Fatal("an unused probe window was lost")
	}
	g.Accepted()
	if ok, _ := g.Allow(); !ok || g.Paused() {
		t.Fatal("still paused after an accepted send")
	}
	if v := testutil.ToFloat64(m.Paused.WithLabelValues("sms")); v != 0 {
		t.Fatalf("paused gauge = %v after resuming", v)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 1 {
		t.Fatalf("%d error lines, want 1", n)
	}
}
