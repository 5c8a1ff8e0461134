package retention_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/services/contacts/retention"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/testkit"
)

// TestOldImportsArePurged: an import that ended 40 days ago loses its
// record, its report lines (more than one batch of them) and the upload
// a crash left; one that ended 10 days ago, one still running and a
// fresh upload are kept.
func TestOldImportsArePurged(t *testing.T) {
	ctx := context.Background()
	pool := testkit.Pool(t, migrations.FS)
	clock := testkit.NewClock(t)
	now := clock.Now()
	dir := t.TempDir()
	imp := func(ended *time.Time, issues int) string {
		t.Helper()
		id := events.NewID()
		state := "running"
		if ended != nil {
			state = "done"
		}
		if _, err := pool.Exec(ctx, `INSERT INTO imports (id, state, created_at, heartbeat_at, finished_at) VALUES ($1, $2, $3, $3, $4)`,
			id, state, now.Add(-60*24*time.Hour), ended); err != nil {
			t.Fatal(err)
		}
		for i := range issues {
			if _, err := pool.Exec(ctx, `INSERT INTO import_issues (import_id, line, kind, reason) VALUES ($1, $2, 'rejected', 'bad phone 212-555-0101')`, id, i+2); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	old, recent := now.Add(-40*24*time.Hour), now.Add(-10*24*time.Hour)
	oldID, recentID, runningID := imp(&old, 7), imp(&recent, 2), imp(nil, 1)
	file := func(name string, at time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("phone\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Files age on the machine's clock, whatever the service's says (the
	// shifted passes of make test-clock set it months ahead): a fresh
	// upload is kept however far ahead the service's clock is.
	wall := time.Now()
	stale, fresh, other := file("import-1.csv", wall.Add(-40*24*time.Hour)), file("import-2.csv", wall), file("notes-1.csv", wall.Add(-40*24*time.Hour))

	p := retention.New(pool, 30*24*time.Hour, dir, clock.Now, nil, zaptest.NewLogger(t)).WithBatch(3)
	done, err := p.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if done["import_reports"] != 7 || done["imports"] != 1 || done["import_files"] != 1 {
		t.Fatalf("purged %v, want 7 report lines, 1 import, 1 file", done)
	}
	count := func(q string, args ...any) int {
		var n int
		if err := pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM imports WHERE id = $1`, oldID); n != 0 {
		t.Error("the old import is still there")
	}
	if n := count(`SELECT count(*) FROM import_issues WHERE import_id = ANY($1)`, []string{recentID, runningID}); n != 3 {
		t.Errorf("%d report lines of the newer imports kept, want 3", n)
	}
	if n := count(`SELECT count(*) FROM imports WHERE id = ANY($1)`, []string{recentID, runningID}); n != 2 {
		t.Errorf("%d newer imports kept, want 2", n)
	}
	for f, want := range map[string]bool{stale: false, fresh: true, other: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
	// Nothing more to do: a second run purges nothing.
	if again, err := p.Once(ctx); err != nil || again["import_reports"]+again["imports"]+again["import_files"] != 0 {
		t.Fatalf("second purge = %v, %v", again, err)
	}
}
