package cli

import (
	"bytes"
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
