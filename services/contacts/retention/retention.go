// Package retention is contacts' purge (shared/retention): imports' error
// and merge reports and their records, and uploaded files an import left
// behind, are deleted once the import ended more than the retention ago.
// Contacts and the consent ledger are never purged.
package retention

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/retention"
)

// New builds contacts' purger: imports kept for keep (zero: for ever);
// dir is where uploads wait (CONTACTS_IMPORT_DIR). Its counter is
// contacts_purged_rows_total{data}.
func New(pool *pgxpool.Pool, keep time.Duration, dir string, now func() time.Time, reg prometheus.Registerer, log *zap.Logger) *retention.Purger {
	if dir == "" {
		dir = os.TempDir()
	}
	return retention.New(pool, "contacts_purged_rows_total", []retention.Step{
		// Report lines first (an import may have millions), then the
		// imports, then files a crash left.
		{Data: "import_reports", Keep: keep, Query: `DELETE FROM import_issues WHERE ctid = ANY(ARRAY(
			SELECT i.ctid FROM import_issues i JOIN imports m ON m.id = i.import_id
			WHERE m.finished_at < $1 LIMIT $2))`},
		{Data: "imports", Keep: keep, Query: `DELETE FROM imports WHERE id IN (
			SELECT id FROM imports m WHERE finished_at < $1
				AND NOT EXISTS (SELECT 1 FROM import_issues i WHERE i.import_id = m.id)
			ORDER BY finished_at LIMIT $2)`},
		{Data: "import_files", Keep: keep, Func: func(_ context.Context, _ time.Time, batch int) (int64, error) {
			// A file's time is the file system's, so its age is read on
			// the machine's clock, not the service's: a clock set ahead
			// (a test's, or one an operator moved) must never make an
			// upload waiting for its import look abandoned.
			return removeOldUploads(dir, time.Now().Add(-keep), batch)
		}},
	}, now, reg, log)
}

// removeOldUploads deletes up to batch upload files (import-*.csv, as
// importer.Runner names them) last written before cutoff: a running
// import's file is written when it is uploaded and removed when the
// import ends, so only a file a crash left behind is ever this old.
func removeOldUploads(dir string, cutoff time.Time, batch int) (int64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "import-*.csv"))
	if err != nil {
		return 0, fmt.Errorf("listing uploads: %w", err)
	}
	var n int64
	for _, f := range files {
		if n >= int64(batch) {
			break
		}
		info, err := os.Stat(f)
		if err != nil || !info.ModTime().Before(cutoff) {
			continue // gone meanwhile, or recent
		}
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return n, fmt.Errorf("removing an old upload: %w", err)
		}
		n++
	}
	return n, nil
}
