package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// DeadLetter is a message a consumer gave up on.
type DeadLetter struct {
	ID         string     `json:"id"`
	EventID    string     `json:"event_id"`
	Consumer   string     `json:"consumer"`
	Subject    string     `json:"subject"`
	Data       []byte     `json:"data"`
	Error      string     `json:"error"`
	Deliveries int        `json:"deliveries"`
	CreatedAt  time.Time  `json:"created_at"`
	RetriedAt  *time.Time `json:"retried_at,omitempty"`
}

// KeepDeadLetter stores a dead letter once per event.
func (s *Store) KeepDeadLetter(ctx context.Context, dl events.DeadLettered) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO dead_letters (event_id, consumer, subject, data, error, deliveries, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING`,
		dl.ID, dl.Consumer, dl.Subject, dl.Data, dl.Error, int(dl.Deliveries), s.now())
	if err != nil {
		return fmt.Errorf("keeping dead letter: %w", err)
	}
	return nil
}

const deadLetterColumns = `id::text, event_id, consumer, subject, data, error, deliveries, created_at, retried_at`

// DeadLetters lists dead letters, newest first.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters ORDER BY created_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing dead letters: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeadLetter])
	if err != nil {
		return nil, fmt.Errorf("reading dead letters: %w", err)
	}
	return list, nil
}

// DeadLetter reads one dead letter.
func (s *Store) DeadLetter(ctx context.Context, id string) (DeadLetter, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE id::text = $1`, id)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("reading dead letter: %w", err)
	}
	dl, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[DeadLetter])
	if errors.Is(err, pgx.ErrNoRows) {
		return DeadLetter{}, apperr.NotFound("no dead letter %s", id)
	}
	if err != nil {
		return DeadLetter{}, fmt.Errorf("reading dead letter: %w", err)
	}
	return dl, nil
}

// MarkRetried notes that an operator sent a dead letter back.
func (s *Store) MarkRetried(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE dead_letters SET retried_at = $2 WHERE id::text = $1`, id, s.now()); err != nil {
		return fmt.Errorf("marking dead letter retried: %w", err)
	}
	return nil
}
