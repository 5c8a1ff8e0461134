package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/apperr"
)

// DefaultReplyDeadline is how long a reply may wait for an answer, inside
// the member's window, until an admin says otherwise.
const DefaultReplyDeadline = 4 * time.Hour

// ReplyDeadline is the organization's setting and who last changed it.
type ReplyDeadline struct {
	Within    time.Duration
	UpdatedBy string
	UpdatedAt time.Time
}

// ReplyDeadline reads the setting; never set is the default.
func (s *Store) ReplyDeadline(ctx context.Context) (ReplyDeadline, error) {
	var d ReplyDeadline
	var minutes int
	err := s.pool.QueryRow(ctx, `SELECT minutes, updated_by, updated_at FROM reply_deadline`).Scan(&minutes, &d.UpdatedBy, &d.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ReplyDeadline{Within: DefaultReplyDeadline}, nil
	}
	if err != nil {
		return ReplyDeadline{}, fmt.Errorf("reading the reply deadline: %w", err)
	}
	d.Within = time.Duration(minutes) * time.Minute
	return d, nil
}

// SetReplyDeadline changes the setting: 5 minutes to 7 days.
func (s *Store) SetReplyDeadline(ctx context.Context, within time.Duration, by string) error {
	minutes := int(within / time.Minute)
	if minutes < 5 || minutes > 7*24*60 {
		return apperr.Invalid("minutes", "must be between 5 minutes and 7 days (10080 minutes)")
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO reply_deadline (singleton, minutes, updated_by, updated_at) VALUES (true, $1, $2, $3)
		ON CONFLICT (singleton) DO UPDATE SET minutes = EXCLUDED.minutes, updated_by = EXCLUDED.updated_by, updated_at = EXCLUDED.updated_at`,
		minutes, by, s.now())
	if err != nil {
		return fmt.Errorf("saving the reply deadline: %w", err)
	}
	return nil
}
