package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDatabaseClockReadsFindsEveryForm(t *testing.T) {
	dir := t.TempDir()
	src := "package x\n\n" +
		"// now() in a comment is fine.\n" +
		"const a = `UPDATE t SET at = now() WHERE id = $1`\n" +
		"const b = \"SELECT CURRENT_TIMESTAMP\"\n" +
		"const c = `SELECT clock_timestamp()`\n" +
		"const d = `UPDATE t SET at = $2 WHERE known_at < $1`\n" +
		"const e = `SELECT current_timezone`\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	// A test file may use the database's clock for its fixtures.
	if err := os.WriteFile(filepath.Join(dir, "x_test.go"), []byte("package x\n\nconst f = `now()`\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	found, err := DatabaseClockReads(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 3 {
		t.Fatalf("found %d reads, want 3 (now(), CURRENT_TIMESTAMP, clock_timestamp()):\n%s", len(found), strings.Join(found, "\n"))
	}
	for i, want := range []string{"x.go:4:", "x.go:5:", "x.go:6:"} {
		if !strings.Contains(found[i], want) {
			t.Errorf("finding %d = %q, want it at %s", i, found[i], want)
		}
	}
}

func TestDatabaseClockReadsRefusesAnEmptyFolder(t *testing.T) {
	if _, err := DatabaseClockReads(t.TempDir()); err == nil {
		t.Fatal("an empty folder passed the check")
	}
}

// The shared outbox writes its own statement: it too takes the caller's
// time.
func TestOutboxReadsNoDatabaseClock(t *testing.T) {
	NoDatabaseClock(t, filepath.Join("..", "outbox"))
}
