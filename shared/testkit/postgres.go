package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
)

// AdminURL is the PostgreSQL server tests create their databases on;
// MUSTER_TEST_DATABASE_URL overrides it.
func AdminURL() string {
	if u := os.Getenv("MUSTER_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// templateLock serializes template creation and cloning across test
// processes: PostgreSQL refuses to clone a template someone is connected to.
const templateLock = 727_364_001

// Database returns the URL of a fresh database with migrations applied,
// dropped when the test ends. The first call for a set of migrations builds
// a template database; later calls clone it, which is fast.
func Database(t testing.TB, migrations fs.FS) string {
	t.Helper()
	return DatabaseOn(t, AdminURL(), migrations)
}

// Pool is a pool of four connections on a fresh database with
// migrations applied (Database), closed when the test ends.
func Pool(t testing.TB, migrations fs.FS) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), Database(t, migrations), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// DatabaseOn is Database on the server adminURL names (a private one).
func DatabaseOn(t testing.TB, adminURL string, migrations fs.FS) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn, err := NewDatabase(ctx, adminURL, migrations)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DropDatabase(ctx, adminURL, dsn); err != nil {
			t.Logf("dropping test database: %v", err)
		}
	})
	return dsn
}

// NewDatabase clones a fresh database from the migrated template for
// migrations and returns its URL. Benchmarks and the dev stack use it too.
func NewDatabase(ctx context.Context, adminURL string, migrations fs.FS) (string, error) {
	sum, err := hashFS(migrations)
	if err != nil {
		return "", err
	}
	tmpl := "muster_tmpl_" + sum[:16]
	name := "muster_test_" + events.NewID()[:16]

	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connecting to test postgres (is it running? see README): %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLock); err != nil {
		return "", fmt.Errorf("locking template: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLock) //nolint:errcheck

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", fmt.Errorf("looking up template: %w", err)
	}
	if !exists {
		if err := buildTemplate(ctx, conn, adminURL, tmpl, migrations); err != nil {
			return "", err
		}
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl)); err != nil {
		return "", fmt.Errorf("cloning template: %w", err)
	}
	return withDatabase(adminURL, name)
}

func buildTemplate(ctx context.Context, conn *pgx.Conn, adminURL, tmpl string, migrations fs.FS) error {
	building := tmpl + "_building"
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return fmt.Errorf("creating template: %w", err)
	}
	dsn, err := withDatabase(adminURL, building)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, dsn, 2)
	if err != nil {
		return err
	}
	err = postgres.Migrate(ctx, pool, migrations)
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrating template: %w", err)
	}
	// Renamed only once complete, so a crash mid-way never leaves a
	// half-migrated template behind.
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, tmpl)); err != nil {
		return fmt.Errorf("naming template: %w", err)
	}
	return nil
}

// DropDatabase removes the database dsn names, closing its connections.
func DropDatabase(ctx context.Context, adminURL, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parsing database url: %w", err)
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connecting to drop: %w", err)
	}
	defer conn.Close(ctx)
	name := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping %s: %w", name, err)
	}
	return nil
}

func withDatabase(adminURL, name string) (string, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("parsing admin url: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func hashFS(fsys fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
