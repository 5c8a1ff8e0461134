package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/delivery/quiet"
)

// StateRuleDay is one state's hours on one weekday (time.Weekday, Sunday
// 0) and its messages-per-24-hours limit, as the state_rules table keeps
// them.
type StateRuleDay struct {
	State     string
	Weekday   time.Weekday
	Window    quiet.Window
	MaxPer24h int
	Note      string
	UpdatedBy string
	UpdatedAt time.Time
}

// StateRules reads the whole table, by state and weekday.
func (s *Store) StateRules(ctx context.Context) ([]StateRuleDay, error) {
	rows, err := s.pool.Query(ctx, `SELECT state, weekday, window_start, window_end, max_per_24h, note, updated_by, updated_at
		FROM state_rules ORDER BY state, weekday`)
	if err != nil {
		return nil, fmt.Errorf("reading state rules: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StateRuleDay, error) {
		var d StateRuleDay
		var wd, start, end, max int16
		err := r.Scan(&d.State, &wd, &start, &end, &max, &d.Note, &d.UpdatedBy, &d.UpdatedAt)
		d.Weekday, d.MaxPer24h = time.Weekday(wd), int(max)
		d.Window = quiet.Window{Start: time.Duration(start) * time.Minute, End: time.Duration(end) * time.Minute}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading state rules: %w", err)
	}
	return list, nil
}

// SaveStateRule replaces one state's rows (all seven weekdays, in days)
// in one transaction, stamped with the store's clock.
func (s *Store) SaveStateRule(ctx context.Context, state string, days [7]quiet.Window, maxPer24h int, note, by string) error {
	now := s.now()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for wd, w := range days {
			_, err := tx.Exec(ctx, `
				INSERT INTO state_rules (state, weekday, window_start, window_end, max_per_24h, note, updated_by, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (state, weekday) DO UPDATE SET window_start = excluded.window_start, window_end = excluded.window_end,
					max_per_24h = excluded.max_per_24h, note = excluded.note, updated_by = excluded.updated_by,
					updated_at = excluded.updated_at`,
				state, int16(wd), minutes(w.Start), minutes(w.End), int16(maxPer24h), note, by, now)
			if err != nil {
				return fmt.Errorf("saving state rule %s: %w", state, err)
			}
		}
		return nil
	})
}

// DeleteStateRule removes a state's rule; false when it had none.
func (s *Store) DeleteStateRule(ctx context.Context, state string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM state_rules WHERE state = $1`, state)
	if err != nil {
		return false, fmt.Errorf("deleting state rule %s: %w", state, err)
	}
	return tag.RowsAffected() > 0, nil
}
