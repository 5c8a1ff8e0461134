package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RememberTrace keeps the traceparent of the span sending message id, for
// its status callbacks to continue. Only sampled sends are remembered.
func (s *Store) RememberTrace(ctx context.Context, id, traceparent string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE messages SET trace_parent = $2 WHERE id = $1::uuid`, id, traceparent); err != nil {
		return fmt.Errorf("remembering message %s's trace: %w", id, err)
	}
	return nil
}

// Trace is the traceparent remembered for message id, or "" when its send
// was not traced; the message is found by provider id when id is empty.
func (s *Store) Trace(ctx context.Context, id, providerID string) (string, error) {
	var tp *string
	var err error
	if id != "" {
		err = s.pool.QueryRow(ctx, `SELECT trace_parent FROM messages WHERE id::text = $1`, id).Scan(&tp)
	} else {
		err = s.pool.QueryRow(ctx, `SELECT trace_parent FROM messages WHERE provider_id = $1`, providerID).Scan(&tp)
	}
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && tp == nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading a message's trace: %w", err)
	}
	return *tp, nil
}
