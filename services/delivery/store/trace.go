package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
)

// Trace pairs a message with the traceparent of the span sending it.
type Trace struct {
	MessageID, Traceparent string
}

// RememberTraces keeps, in one statement, the traceparent of each span
// sending a message, for its status callbacks to continue. Only sampled
// sends are remembered.
func (s *Store) RememberTraces(ctx context.Context, traces []Trace) error {
	ids, tps := make([]string, len(traces)), make([]string, len(traces))
	for i, t := range traces {
		ids[i], tps[i] = t.MessageID, t.Traceparent
	}
	if _, err := s.pool.Exec(ctx, `UPDATE messages m SET trace_parent = v.tp
		FROM unnest($1::text[]::uuid[], $2::text[]) AS v(id, tp) WHERE m.id = v.id`, postgres.Replan, ids, tps); err != nil {
		return fmt.Errorf("remembering %d messages' traces: %w", len(traces), err)
	}
	return nil
}

// Trace is the traceparent remembered for message id, or "" when its send
// was not traced; the message is found by provider id when id is empty.
func (s *Store) Trace(ctx context.Context, id, providerID string) (string, error) {
	var tp *string
	var err error
	switch {
	case id != "" && !events.IsUUID(id):
		return "", nil
	case id != "":
		err = s.pool.QueryRow(ctx, `SELECT trace_parent FROM messages WHERE id = $1::uuid`, id).Scan(&tp)
	default:
		// Provider ids are indexed for texts (Twilio SIDs) only.
		err = s.pool.QueryRow(ctx, `SELECT trace_parent FROM messages WHERE provider_id = $1 AND channel = 'sms'`, providerID).Scan(&tp)
	}
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && tp == nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading a message's trace: %w", err)
	}
	return *tp, nil
}
