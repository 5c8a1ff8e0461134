package testkit

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Updates counts a table's row updates, and how many of them PostgreSQL
// made in place (HOT: the new version on the same page, no new index
// entry).
type Updates struct{ All, InPlace int64 }

// TableUpdates reads table's update counts, including those of the
// statements pool's connection has just run: pool should hold one
// connection, which publishes its counts when it next waits for a
// statement.
func TableUpdates(t testing.TB, pool *pgxpool.Pool, table string) Updates {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "SELECT pg_stat_force_next_flush()"); err != nil {
		t.Fatal(err)
	}
	var u Updates
	if err := pool.QueryRow(ctx, "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = $1", table).
		Scan(&u.All, &u.InPlace); err != nil {
		t.Fatal(err)
	}
	return u
}
