package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
)

// RecordAndClaimMany records a batch of new send requests in one
// statement and, in the same statement, claims each for sending, or
// records it suppressed when its address is on the suppression list: the
// record and the suppression check are one atomic step, taken right
// before the provider call. It returns the rows it created, by
// idempotency key; keys missing from the result were recorded before (the
// caller reads them with ByKey and never sends them again). When a key
// appears more than once in the batch, its first request is the one
// recorded and checked. The suppression check probes the whole primary
// key, once for the address and once for its hash, so that no plan, kept
// from when a few members had stopped or made before statistics, reads
// every suppression of the channel for each text.
func (s *Store) RecordAndClaimMany(ctx context.Context, reqs []events.SendRequested, segments []int) (map[string]Message, error) {
	n := len(reqs)
	keys, campaigns, contacts, channels, tos, bodies, corr, zones := make([]string, 0, n), make([]string, 0, n), make([]string, 0, n),
		make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	steps, segs := make([]int32, 0, n), make([]int32, 0, n)
	urgent := make([]bool, 0, n)
	states, notAfters := make([]string, 0, n), make([]*time.Time, 0, n)
	defaults := make([]string, 0, n)
	hashes := make([]string, 0, n)
	langs := make([]string, 0, n)
	ids, idText := newIDs(n)
	hasher := s.erasure.Hasher()
	// byKey is each key's row, made of its first request (at[row] in reqs):
	// the only one the statement sees, so what it checked is what the
	// caller sends.
	byKey := make(map[string]int, n)
	at := make([]int, 0, n)
	segmentsOf := func(i int) int {
		if i < len(segments) {
			return segments[i]
		}
		return 1
	}
	for i, r := range reqs {
		if _, dup := byKey[r.IdempotencyKey]; dup {
			continue
		}
		byKey[r.IdempotencyKey] = len(at)
		at = append(at, i)
		keys, campaigns, contacts, channels = append(keys, r.IdempotencyKey), append(campaigns, r.CampaignID), append(contacts, r.ContactID), append(channels, string(r.Channel))
		tos, bodies, corr, zones = append(tos, r.To), append(bodies, r.Body), append(corr, r.CorrelationID), append(zones, r.TimeZone)
		langs = append(langs, r.Language)
		steps, urgent, segs = append(steps, int32(r.Step)), append(urgent, r.Urgent), append(segs, int32(segmentsOf(i)))
		states, notAfters = append(states, r.State), append(notAfters, notAfter(r.NotAfter))
		defaults = append(defaults, r.DefaultWindow)
		h, _ := hasher.Hash(r.Channel, r.To) // "", which no suppression has, without a key
		hashes = append(hashes, h)
	}
	now := s.now()
	rows, err := s.pool.Query(ctx, `
		INSERT INTO messages (id, idempotency_key, campaign_id, step, contact_id, channel, to_addr, body, status, status_rank,
			reason, correlation_id, urgent, time_zone, segments, language, state, not_after, default_window, claimed_at, created_at, updated_at)
		SELECT r.id, r.key, r.campaign, r.step, r.contact, r.channel, r.to_addr, r.body,
			CASE WHEN sup.address IS NULL THEN $9 ELSE $10 END,
			CASE WHEN sup.address IS NULL THEN $11::smallint ELSE $12::smallint END,
			CASE WHEN sup.address IS NULL THEN '' ELSE 'suppressed: ' || sup.reason END,
			r.corr, r.urgent, r.zone, r.segs, r.lang, r.state, r.not_after, r.default_window, CASE WHEN sup.address IS NULL THEN $16::timestamptz END, $16::timestamptz, $16::timestamptz
		FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
				$13::boolean[], $14::text[], $15::smallint[], $17::text[], $18::text[], $19::timestamptz[], $20::text[], $21::text[], $22::uuid[])
			AS r(key, campaign, step, contact, channel, to_addr, body, corr, urgent, zone, segs, lang, state, not_after, default_window, to_hash, id)
		-- the address, or an erased member's suppression on its keyed hash:
		-- each a whole primary key, so no plan reads the channel's list
		LEFT JOIN LATERAL (SELECT x.address, x.reason FROM suppressions x WHERE x.channel = r.channel AND x.address = r.to_addr
			UNION ALL SELECT x.address, x.reason FROM suppressions x WHERE x.channel = r.channel AND x.address = r.to_hash
			LIMIT 1) sup ON true
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING idempotency_key, status, reason`,
		keys, campaigns, steps, contacts, channels, tos, bodies, corr,
		string(status.Sending), string(status.Suppressed), status.Sending.Rank(), status.Suppressed.Rank(), urgent, zones, segs, now, langs,
		states, notAfters, defaults, hashes, ids[:len(keys)])
	if err != nil {
		return nil, fmt.Errorf("recording messages: %w", err)
	}
	// A row created now holds its request as given, its id and times as
	// sent: only what the statement decided is read back.
	out := make(map[string]Message, len(keys))
	for rows.Next() {
		var key string
		// PostgreSQL keeps microseconds.
		m := Message{CreatedAt: now.Truncate(time.Microsecond)}
		if err := rows.Scan(&key, &m.Status, &m.Reason); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading recorded message: %w", err)
		}
		k := byKey[key]
		m.ID = idText[k]
		i := at[k]
		r := reqs[i]
		m.IdempotencyKey, m.CampaignID, m.Step, m.ContactID, m.Channel, m.To, m.Body = key, r.CampaignID, r.Step, r.ContactID, string(r.Channel), r.To, r.Body
		m.CorrelationID, m.TimeZone, m.Urgent, m.Segments, m.UpdatedAt = r.CorrelationID, r.TimeZone, r.Urgent, segmentsOf(i), m.CreatedAt
		m.State, m.NotAfter, m.DefaultWindow = r.State, notAfter(r.NotAfter), r.DefaultWindow
		out[key] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recording messages: %w", err)
	}
	for _, m := range out {
		s.move(m.Channel, m.Status, "")
	}
	return out, nil
}

// ApplyMany applies one status report to many messages (the answer to one
// batched provider call), in one statement, moving only those it ranks
// above. It returns the messages that moved, with the fields a status
// event reports (statusColumns). Like ApplyReports, each batch is planned
// for itself, or a plan kept from a young log scans all of it.
func (s *Store) ApplyMany(ctx context.Context, ids []string, u Update) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `
		WITH upd AS (
			UPDATE messages m SET
				provider_id = coalesce(m.provider_id, nullif($2, '')),
				status = $3::text, status_rank = $4::smallint,
				error_code = CASE WHEN $5::text <> '' THEN $5::text ELSE m.error_code END,
				reason = CASE WHEN $6::text <> '' THEN $6::text ELSE m.reason END,
				sent_at = CASE WHEN $4::smallint >= $9::smallint AND m.sent_at IS NULL THEN $8::timestamptz ELSE m.sent_at END,
				`+moveMarks("true", "$3::text", "$8::timestamptz")+`
				updated_at = $8::timestamptz
			WHERE m.id = ANY($1::text[]::uuid[]) AND m.status_rank < $4::smallint
			-- what the event and the status log need, not whole rows
			RETURNING m.id, m.idempotency_key, m.campaign_id, m.contact_id, m.channel, m.status, m.provider_id,
				m.error_code, m.reason, m.correlation_id),
		logged AS (
			INSERT INTO message_events (message_id, status, provider_status, error_code, applied, received_at)
			SELECT id, $3::text, $7::text, $5::text, true, $8::timestamptz FROM upd)
		SELECT `+statusColumns+` FROM upd`,
		postgres.Replan, ids, u.ProviderID, string(u.Status), u.Status.Rank(), u.ErrorCode, u.Reason, u.ProviderStatus, s.now(), status.Accepted.Rank())
	if err != nil {
		return nil, fmt.Errorf("applying status to %d messages: %w", len(ids), err)
	}
	moved := make([]Message, 0, len(ids))
	for rows.Next() {
		m, err := scanStatus(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading applied status: %w", err)
		}
		moved = append(moved, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("applying status to %d messages: %w", len(ids), err)
	}
	for _, m := range moved {
		s.move(m.Channel, m.Status, m.ErrorCode)
	}
	return moved, nil
}

// statusColumns are what a status event reports of a message; scanStatus
// reads them.
const statusColumns = `id::text, idempotency_key, campaign_id, contact_id, channel, status,
	coalesce(provider_id, ''), error_code, reason, correlation_id`

// scanStatus reads statusColumns, then any further columns into extra.
func scanStatus(row pgx.Row, extra ...any) (Message, error) {
	var m Message
	err := row.Scan(append([]any{&m.ID, &m.IdempotencyKey, &m.CampaignID, &m.ContactID, &m.Channel, &m.Status,
		&m.ProviderID, &m.ErrorCode, &m.Reason, &m.CorrelationID}, extra...)...)
	return m, err
}

// Outcome is one message's status report, for ApplyReports.
type Outcome struct {
	ID string
	Update
}

// Applied is a message after ApplyReports, and whether it moved.
type Applied struct {
	Message Message
	Moved   bool
}
