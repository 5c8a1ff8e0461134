package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
)

// Erase removes what delivery keeps of an erased member (contact.erased),
// by their contact id and by their addresses, in one transaction:
//
//   - each address's suppression is kept on the address's keyed hash, with
//     its reason, source and times and no evidence; an address that was
//     not suppressed is suppressed there ("erased"): an erased member is
//     never texted or emailed again, even when an import adds them back;
//   - their messages still waiting are suppressed; every message to them
//     keeps its key, status and times, with the address and text blanked,
//     and its provider status reports are deleted;
//   - their replies and opt-out reviews keep their ids and decisions with
//     the address and text blanked; their rhythm, email-reply
//     confirmations and dead letters that name them are deleted.
//
// Running it again changes nothing.
func (s *Store) Erase(ctx context.Context, ev events.ContactErased) error {
	if !s.erasure.Set() {
		return erasure.ErrNoKey
	}
	now := s.now()
	channels, addrs, hashes := make([]string, 0, len(ev.Addresses)), make([]string, 0, len(ev.Addresses)), make([]string, 0, len(ev.Addresses))
	for _, a := range ev.Addresses {
		if h, ok := s.erasure.Hash(a.Channel, a.Address); ok {
			channels, addrs, hashes = append(channels, string(a.Channel)), append(addrs, a.Address), append(hashes, h)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		steps := []struct {
			what string
			sql  string
			args []any
		}{
			{"keeping suppressions on their hash", `
				INSERT INTO suppressions (channel, address, reason, source, evidence, created_at, renewed_at)
				SELECT u.ch, u.h, coalesce(p.reason, 'erased'), coalesce(p.source, 'erasure'), '',
					coalesce(p.created_at, $4), coalesce(p.renewed_at, $4)
				FROM unnest($1::text[], $2::text[], $3::text[]) AS u(ch, addr, h)
				LEFT JOIN suppressions p ON p.channel = u.ch AND p.address = u.addr
				ON CONFLICT (channel, address) DO NOTHING`, []any{channels, addrs, hashes, now}},
			{"deleting plain suppressions", `DELETE FROM suppressions WHERE address = ANY($1)`, []any{addrs}},
			{"suppressing waiting messages", `
				UPDATE messages SET status = $3::text, status_rank = $4::smallint, reason = 'suppressed: member erased', deferred_until = NULL, unknown_since = NULL, updated_at = $5
				WHERE (contact_id = $1 OR to_addr = ANY($2)) AND status = $6`,
				[]any{ev.ContactID, addrs, string(status.Suppressed), status.Suppressed.Rank(), now, string(status.Queued)}},
			{"deleting status reports", `
				DELETE FROM message_events WHERE message_id IN (SELECT id FROM messages WHERE (contact_id = $1 OR to_addr = ANY($2)) AND to_addr <> '')`,
				[]any{ev.ContactID, addrs}},
			{"blanking messages", `
				UPDATE messages SET to_addr = '', body = '' WHERE (contact_id = $1 OR to_addr = ANY($2)) AND (to_addr <> '' OR body <> '')`,
				[]any{ev.ContactID, addrs}},
			{"blanking replies", `
				UPDATE inbound_messages SET from_addr = '', body = '', reply = ''
				WHERE (from_addr = ANY($2) OR (contact_id = $1 AND contact_id <> '')) AND (from_addr <> '' OR body <> '' OR reply <> '')`,
				[]any{ev.ContactID, addrs}},
			{"blanking opt-out reviews", `
				UPDATE optout_reviews SET address = '', body = ''
				WHERE (address = ANY($2) OR (contact_id = $1 AND contact_id <> '')) AND (address <> '' OR body <> '')`,
				[]any{ev.ContactID, addrs}},
			{"deleting email-reply confirmations", `DELETE FROM email_reply_confirmations WHERE address = ANY($1)`, []any{addrs}},
			{"deleting rhythm", `DELETE FROM member_rhythm WHERE address = ANY($1)`, []any{addrs}},
			{"deleting rhythm history", `DELETE FROM member_rhythm_history WHERE address = ANY($1)`, []any{addrs}},
			{"deleting dead letters", `
				DELETE FROM dead_letters WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS a(v)
					WHERE strpos(encode(data, 'escape'), a.v) > 0 OR strpos(encode(data, 'escape'), $2) > 0)`,
				[]any{addrs, ev.ContactID}},
		}
		for _, st := range steps {
			if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
				return fmt.Errorf("erasing contact %s: %s: %w", ev.ContactID, st.what, err)
			}
		}
		return nil
	})
}
