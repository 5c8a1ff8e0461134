package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/events"
)

// Erase removes what campaigns keeps of an erased member (contact.erased):
// their recipient rows (so no later step reaches them), RSVPs, signatures
// and calls, poll answers and their history, and replies; inbox items
// from them or their addresses keep only their event id (so a replayed
// reply is still recognized as seen) with the name, address, text and
// the organizers' answers blanked, and leave the open inbox. The counts
// of messages (campaign_messages: ids and statuses) stay. Running it
// again changes nothing.
func (s *Store) Erase(ctx context.Context, ev events.ContactErased) error {
	addrs := make([]string, 0, len(ev.Addresses))
	for _, a := range ev.Addresses {
		addrs = append(addrs, a.Address)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			WITH items AS (
				UPDATE inbox SET first_name = '', last_name = '', from_addr = '', body = '', note = '',
					handled_at = coalesce(handled_at, $3)
				WHERE (contact_id = $1 AND contact_id <> '') OR from_addr = ANY($2)
				RETURNING id)
			UPDATE inbox_replies SET body = '' WHERE inbox_id IN (SELECT id FROM items)`, ev.ContactID, addrs, s.now()); err != nil {
			return fmt.Errorf("erasing a member's inbox items: %w", err)
		}
		for _, table := range []string{"campaign_recipients", "rsvps", "petition_actions", "poll_answers", "poll_answer_history", "campaign_replies"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE contact_id = $1`, ev.ContactID); err != nil {
				return fmt.Errorf("erasing a member from %s: %w", table, err)
			}
		}
		return nil
	})
}
