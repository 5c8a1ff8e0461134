package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrgName reads the union's name as the console last set it; ok is false
// when it never has.
func (s *Store) OrgName(ctx context.Context) (name string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT name FROM org_name`).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the organization's name: %w", err)
	}
	return name, true, nil
}

// SetOrgName records the union's name, who set it and when.
func (s *Store) SetOrgName(ctx context.Context, name, by string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO org_name (name, updated_by, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (only_row) DO UPDATE SET name = excluded.name, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		name, by, at)
	if err != nil {
		return fmt.Errorf("saving the organization's name: %w", err)
	}
	return nil
}
