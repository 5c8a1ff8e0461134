package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimConfirmation takes the one confirmation an email opt-out may have,
// for an address and the reply (inbound message id) that opted it out,
// at at. It returns false when it was claimed before: the confirmation
// was sent, or a try died after claiming it, and either way none more is
// sent (one at most, never two).
func (s *Store) ClaimConfirmation(ctx context.Context, address, inboundID string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO email_reply_confirmations (address, inbound_id, claimed_at)
		VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, address, inboundID, at)
	if err != nil {
		return false, fmt.Errorf("claiming opt-out confirmation: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ConfirmationSent records that the claimed confirmation went out, for
// the record (an unsent claim means the provider refused it or the try died).
func (s *Store) ConfirmationSent(ctx context.Context, address, inboundID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE email_reply_confirmations SET sent_at = $3
		WHERE address = $1 AND inbound_id = $2`, address, inboundID, at)
	if err != nil {
		return fmt.Errorf("recording opt-out confirmation: %w", err)
	}
	return nil
}
