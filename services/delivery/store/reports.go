package store

import (
	"context"
	"fmt"

	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/postgres"
)

// ApplyReports applies many providers' status reports (status callbacks,
// email events from concurrent webhooks) in one statement. A message may
// appear more than once: its highest-ranked report is the one that can
// move it, and only forward, so reports arriving late or out of order
// never move a message back; every report is logged. Results come back
// in request order, with the fields a status event reports and the
// recipient: Moved is whether that report moved its message, and a report
// for a message that does not exist comes back with an empty Message.
// Each batch is planned for itself (postgres.Replan): a plan kept from
// when the log was small would read the whole log for every batch.
func (s *Store) ApplyReports(ctx context.Context, outs []Outcome) ([]Applied, error) {
	n := len(outs)
	ids, pids, sts, codes, reasons, pst := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ranks := make([]int16, n)
	for i, o := range outs {
		ids[i], pids[i], sts[i], codes[i], reasons[i], pst[i] = o.ID, o.ProviderID, string(o.Status), o.ErrorCode, o.Reason, o.ProviderStatus
		ranks[i] = int16(o.Status.Rank())
	}
	rows, err := s.pool.Query(ctx, `
		WITH u AS (
			SELECT * FROM unnest($1::text[]::uuid[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::text[], $7::text[])
				WITH ORDINALITY AS u(id, provider_id, status, rank, error_code, reason, provider_status, ord)),
		best AS (SELECT DISTINCT ON (id) * FROM u ORDER BY id, rank DESC, ord),
		cur AS (SELECT m.id, m.status_rank FROM messages m JOIN best ON best.id = m.id ORDER BY m.id FOR UPDATE OF m),
		upd AS (
			UPDATE messages m SET
				provider_id = coalesce(m.provider_id, nullif(best.provider_id, '')),
				status = CASE WHEN cur.status_rank < best.rank THEN best.status ELSE m.status END,
				status_rank = CASE WHEN cur.status_rank < best.rank THEN best.rank ELSE m.status_rank END,
				error_code = CASE WHEN cur.status_rank < best.rank AND best.error_code <> '' THEN best.error_code ELSE m.error_code END,
				reason = CASE WHEN cur.status_rank < best.rank AND best.reason <> '' THEN best.reason ELSE m.reason END,
				sent_at = CASE WHEN cur.status_rank < best.rank AND best.rank >= $9::smallint AND m.sent_at IS NULL THEN $8::timestamptz ELSE m.sent_at END,
				`+moveMarks("cur.status_rank < best.rank", "best.status", "$8::timestamptz")+`
				updated_at = $8::timestamptz
			FROM best, cur WHERE m.id = best.id AND cur.id = best.id
			RETURNING m.*, cur.status_rank < best.rank AS moved, best.ord AS won),
		logged AS (
			INSERT INTO message_events (message_id, status, provider_status, error_code, applied, received_at)
			SELECT u.id, u.status, u.provider_status, u.error_code, upd.moved AND upd.won = u.ord, $8::timestamptz
			FROM u JOIN upd ON upd.id = u.id)
		SELECT `+statusColumns+`, to_addr, moved, won FROM upd`,
		postgres.Replan, ids, pids, sts, ranks, codes, reasons, pst, s.now(), status.Accepted.Rank())
	if err != nil {
		return nil, fmt.Errorf("applying %d reports: %w", n, err)
	}
	type result struct {
		msg   Message
		moved bool
		won   int64
	}
	byID := make(map[string]result, n)
	for rows.Next() {
		var r result
		var err error
		var to string
		if r.msg, err = scanStatus(rows, &to, &r.moved, &r.won); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading applied report: %w", err)
		}
		r.msg.To = to
		byID[r.msg.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("applying %d reports: %w", n, err)
	}
	out := make([]Applied, n)
	for i, o := range outs {
		r, ok := byID[o.ID]
		if !ok {
			continue
		}
		out[i] = Applied{Message: r.msg, Moved: r.moved && r.won == int64(i+1)}
	}
	for _, r := range byID {
		if r.moved {
			s.move(r.msg.Channel, r.msg.Status, r.msg.ErrorCode)
		}
	}
	return out, nil
}

// EmailEventRecord is a provider's email event as the dedupe table keeps
// it.
type EmailEventRecord struct {
	ID, MessageID, Event string
}

// SeenEmailEvents says which of ids were recorded before: SendGrid repeats
// events, and each is acted on once. Each post's question is planned for
// itself (postgres.Replan): a plan kept from when the events recorded
// numbered a few hundred reads all of them for every post.
func (s *Store) SeenEmailEvents(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT sg_event_id FROM email_events WHERE sg_event_id = ANY($1::text[])`, postgres.Replan, ids)
	if err != nil {
		return nil, fmt.Errorf("reading seen email events: %w", err)
	}
	defer rows.Close()
	seen := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("reading seen email events: %w", err)
		}
		seen[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading seen email events: %w", err)
	}
	return seen, nil
}

// RecordEmailEvents records events as acted on, in one statement; one
// recorded before is left as it was.
func (s *Store) RecordEmailEvents(ctx context.Context, evs []EmailEventRecord) error {
	ids, msgs, names := make([]string, len(evs)), make([]*string, len(evs)), make([]string, len(evs))
	for i, e := range evs {
		ids[i], names[i] = e.ID, e.Event
		if e.MessageID != "" {
			msgs[i] = &evs[i].MessageID
		}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO email_events (sg_event_id, message_id, event, received_at)
		SELECT id, msg::uuid, event, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS e(id, msg, event)
		ON CONFLICT (sg_event_id) DO NOTHING`, ids, msgs, names, s.now())
	if err != nil {
		return fmt.Errorf("recording %d email events: %w", len(evs), err)
	}
	return nil
}

// moveMarks sets what a status move keeps beside the status, for the
// sweepers' indexes (migration 0021): the reconciler's mark, set when the
// move lands on unknown and cleared otherwise, and the deferral, which
// only a queued text keeps. moved is the SQL condition that the row
// moves, and to the status it lands on. A report changes no other
// indexed column but the provider id the first time, so PostgreSQL
// rewrites most rows in place, without new index entries.
func moveMarks(moved, to, now string) string {
	return `unknown_since = CASE WHEN ` + moved + ` THEN CASE WHEN ` + to + ` = '` + string(status.Unknown) + `' THEN ` + now + ` END ELSE m.unknown_since END,
				deferred_until = CASE WHEN ` + moved + ` THEN NULL ELSE m.deferred_until END,`
}
