package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SettingsRow is the stored settings document and who last saved it.
type SettingsRow struct {
	Data      []byte
	UpdatedBy string
	UpdatedAt time.Time
}

// Settings reads the settings row; found is false until an admin saves.
func (s *Store) Settings(ctx context.Context) (SettingsRow, bool, error) {
	var r SettingsRow
	err := s.pool.QueryRow(ctx, `SELECT data, updated_by, updated_at FROM settings WHERE id = 1`).Scan(&r.Data, &r.UpdatedBy, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return SettingsRow{}, false, nil
	}
	if err != nil {
		return SettingsRow{}, false, fmt.Errorf("reading settings: %w", err)
	}
	return r, true, nil
}

// SaveSettings stores the settings document.
func (s *Store) SaveSettings(ctx context.Context, data []byte, by string) (SettingsRow, error) {
	var r SettingsRow
	err := s.pool.QueryRow(ctx, `
		INSERT INTO settings (id, data, updated_by, updated_at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_by = excluded.updated_by, updated_at = excluded.updated_at
		RETURNING data, updated_by, updated_at`, data, by, s.now()).Scan(&r.Data, &r.UpdatedBy, &r.UpdatedAt)
	if err != nil {
		return SettingsRow{}, fmt.Errorf("saving settings: %w", err)
	}
	return r, nil
}
