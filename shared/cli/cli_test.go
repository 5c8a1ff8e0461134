package cli

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/svcauth"
)

func TestKeygenPrintsAMatchingPair(t *testing.T) {
	var out bytes.Buffer
	if err := Keygen(&out, "console"); err != nil {
		t.Fatal(err)
	}
	var seed, trust string
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "CONSOLE_SERVICE_KEY="); ok {
			seed = v
		}
		if strings.HasPrefix(line, "console=") {
			trust = line
		}
	}
	key, err := svcauth.ParsePrivateKey(seed)
	if err != nil {
		t.Fatalf("printed key: %v\n%s", err, out.String())
	}
	trusted, err := svcauth.ParseTrusted(trust)
	if err != nil {
		t.Fatalf("printed trust entry: %v\n%s", err, out.String())
	}
	if got := trusted.String(); got != "console="+svcauth.PublicKey(key) {
		t.Errorf("trust entry %s does not match the key", got)
	}
}

func TestVersionNamesTheBinaryAndItsBuild(t *testing.T) {
	var out bytes.Buffer
	if err := Version(&out, "delivery"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, "delivery ") || !strings.Contains(got, "(commit ") || !strings.HasSuffix(got, ")\n") {
		t.Errorf("version printed %q, want \"delivery <version> (commit <sha>, <go>)\"", got)
	}
}

func TestGCPercentDefersToGOGC(t *testing.T) {
	restore := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(restore) })

	t.Setenv("GOGC", "")
	if got := GCPercent(400); got != "400" {
		t.Errorf("GCPercent(400) without GOGC = %q, want 400", got)
	}
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("the collector's target without GOGC is %d, want 400", got)
	}

	t.Setenv("GOGC", "150")
	if got := GCPercent(400); got != "150" {
		t.Errorf("GCPercent(400) with GOGC=150 = %q, want 150", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GCPercent changed the target to %d with GOGC set; it should leave it", got)
	}
}
