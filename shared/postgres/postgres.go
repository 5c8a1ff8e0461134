// Package postgres opens a service's connection pool, creates its database
// when missing, and applies its embedded migrations. Each service owns its
// own database; nothing here joins across them.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.opentelemetry.io/otel/trace"
)

// Replan, passed as a statement's first argument (pgx reads it as the
// statement's mode), has PostgreSQL plan the statement for its own values
// each time it runs. Otherwise pgx prepares it once per connection, and
// after five runs PostgreSQL may keep one generic plan for it: for a batch
// joined against a table, a plan made while the table was small (a fresh
// database's first campaign, or before statistics are gathered) keeps
// reading the whole table once it has grown. Delivery's status reports
// did: each batch read all 100,000 texts of an alert (44 ms a batch,
// against 0.3 ms). Planning costs a little each run, so Replan is for
// batches joined against a growing table; planning every statement each
// run cost a 12 KB email about a third more PostgreSQL time.
const Replan = pgx.QueryExecModeCacheDescribe

// Open connects a pool and checks that the server answers.
func Open(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	return OpenTraced(ctx, dsn, maxConns, nil)
}

// OpenTraced is Open with each statement of a traced request or message
// made a span of tp's; a nil tp traces nothing.
func OpenTraced(ctx context.Context, dsn string, maxConns int32, tp trace.TracerProvider) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing database url: %w", err)
	}
	if tp != nil {
		cfg.ConnConfig.Tracer = NewQueryTracer(tp)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pinging %s: %w", Redact(dsn), err)
	}
	return pool, nil
}

// EnsureDatabase creates the database named in dsn when it does not exist,
// connecting to the server's "postgres" database to do so. It lets `make
// run` and a fresh deployment start with nothing but a server.
func EnsureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parsing database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return errors.New("database url names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connecting to create %s: %w", name, err)
	}
	defer conn.Close(ctx)
	// Look first: a role without CREATEDB gets "permission denied" from
	// CREATE DATABASE even when the database exists.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("looking up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	return nil
}

// Migrate applies every migration in fsys (files NNNN_name.sql at its root)
// that the database lacks. An advisory lock makes replicas that start
// together take turns.
func Migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("making migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// Redact hides the password in a database url for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable database url)"
	}
	return u.Redacted()
}

// IsUniqueViolation reports whether err is PostgreSQL's unique_violation.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
