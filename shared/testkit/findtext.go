package testkit

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// FindText searches every table of the database at url, every column
// that can hold text (text, varchar, jsonb, arrays, bytea), for each
// needle (case-insensitive), and returns "table.column holds needle" for
// each hit: for proving that data is gone everywhere, not only where a
// test thought to look.
func FindText(ctx context.Context, url string, needles ...string) ([]string, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to search: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
			AND c.data_type IN ('text', 'character varying', 'character', 'jsonb', 'json', 'ARRAY', 'bytea', 'USER-DEFINED')
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("listing columns: %w", err)
	}
	type column struct{ table, name, kind string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		err := r.Scan(&c.table, &c.name, &c.kind)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing columns: %w", err)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("no text columns in %s: searching the wrong database", url)
	}
	var hits []string
	for _, c := range cols {
		expr := pgx.Identifier{c.name}.Sanitize() + "::text"
		if c.kind == "bytea" {
			expr = "encode(" + pgx.Identifier{c.name}.Sanitize() + ", 'escape')"
		}
		for _, n := range needles {
			if strings.TrimSpace(n) == "" {
				continue
			}
			var found bool
			q := `SELECT EXISTS (SELECT 1 FROM ` + pgx.Identifier{c.table}.Sanitize() + ` WHERE strpos(lower(` + expr + `), lower($1)) > 0)`
			if err := conn.QueryRow(ctx, q, n).Scan(&found); err != nil {
				return nil, fmt.Errorf("searching %s.%s: %w", c.table, c.name, err)
			}
			if found {
				hits = append(hits, c.table+"."+c.name+" holds "+n)
			}
		}
	}
	return hits, nil
}
