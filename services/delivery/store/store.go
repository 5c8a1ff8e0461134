// Package store is delivery's PostgreSQL state: the message log, the
// suppression list and members' replies. Status updates are written so
// that a message only moves forward (see package status), in SQL, so two
// racing writers cannot undo each other.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/outbox"
)

// Store reads and writes the delivery database.
type Store struct {
	pool       *pgxpool.Pool
	now        func() time.Time
	wakeOutbox func()
	moved      func(Move)
	// erasure hashes an erased member's addresses (erase.go); the zero
	// key refuses erasures and matches no hashed suppression.
	erasure erasure.Key
}

// Move is a message's step forward that the log has just recorded, past
// the hand-over to a provider: to unknown, accepted, sent or a final
// status, with the error code the log now holds. The metrics count these,
// so they say what the log says.
type Move struct {
	Channel   string
	Status    status.Status
	ErrorCode string
}

// OnMove sets what to call after each move the store has written (the
// metrics); it is called once per message per move, after the statement
// succeeded.
func (s *Store) OnMove(f func(Move)) { s.moved = f }

// move reports a message's move when it went past sending.
func (s *Store) move(channel string, st status.Status, code string) {
	if s.moved != nil && st.Rank() > status.Sending.Rank() {
		s.moved(Move{Channel: channel, Status: st, ErrorCode: code})
	}
}

// New wraps a pool. now is the service's clock: every time the store
// writes or compares comes from it, never from PostgreSQL's now(), so a
// time the worker later compares with its clock was written by that same
// clock (docs/delivery.md, "One clock").
func New(pool *pgxpool.Pool, now func() time.Time) *Store { return &Store{pool: pool, now: now} }

// WithErasureKey sets the key erased members' suppressions are hashed
// with (set once, at start-up, before the store is shared) and returns
// the store.
func (s *Store) WithErasureKey(k erasure.Key) *Store {
	s.erasure = k
	return s
}

// hashOf is an address's keyed hash, or "" (which no suppression has)
// without a key.
func (s *Store) hashOf(channel, address string) string {
	h, _ := s.erasure.Hash(events.Channel(channel), address)
	return h
}

// Ping checks the database answers; sending pauses while it does not.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Message is one row of the message log.
type Message struct {
	ID             string        `json:"id"`
	IdempotencyKey string        `json:"idempotency_key"`
	CampaignID     string        `json:"campaign_id"`
	Step           int           `json:"step"`
	ContactID      string        `json:"contact_id"`
	Channel        string        `json:"channel"`
	To             string        `json:"to"`
	Body           string        `json:"body"`
	Status         status.Status `json:"status"`
	ProviderID     string        `json:"provider_id,omitempty"`
	ErrorCode      string        `json:"error_code,omitempty"`
	Reason         string        `json:"reason,omitempty"`
	CorrelationID  string        `json:"correlation_id,omitempty"`
	TimeZone       string        `json:"time_zone,omitempty"`
	Urgent         bool          `json:"urgent,omitempty"`
	Segments       int           `json:"segments"`
	DeferredUntil  *time.Time    `json:"deferred_until,omitempty"`
	DeferReason    string        `json:"defer_reason,omitempty"`
	CreatedAt      time.Time     `json:"created_at"`
	UpdatedAt      time.Time     `json:"updated_at"`
	// State is the contact's state when the request carried it; NotAfter
	// is when the text stops being of use (see events.SendRequested).
	State    string     `json:"state,omitempty"`
	NotAfter *time.Time `json:"not_after,omitempty"`
	// DefaultWindow is the request's events.SendRequested.DefaultWindow.
	DefaultWindow string `json:"default_window,omitempty"`
}

const messageColumns = `id::text, idempotency_key, campaign_id, step, contact_id, channel, to_addr, body,
	status, coalesce(provider_id, ''), error_code, reason, correlation_id, time_zone, urgent, segments,
	deferred_until, defer_reason, state, not_after, default_window, created_at, updated_at`

func scanMessage(row pgx.Row) (Message, error) {
	var m Message
	err := row.Scan(&m.ID, &m.IdempotencyKey, &m.CampaignID, &m.Step, &m.ContactID, &m.Channel, &m.To, &m.Body,
		&m.Status, &m.ProviderID, &m.ErrorCode, &m.Reason, &m.CorrelationID, &m.TimeZone, &m.Urgent, &m.Segments,
		&m.DeferredUntil, &m.DeferReason, &m.State, &m.NotAfter, &m.DefaultWindow, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

// notAfter is a request's NotAfter for a nullable column.
func notAfter(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Record writes a send request to the log once. A request whose key is
// already recorded returns the existing row with created false: the caller
// must not send it again unless it is still queued.
func (s *Store) Record(ctx context.Context, req events.SendRequested, segments int) (Message, bool, error) {
	// An erased member's address sent to again (re-imported) takes the
	// suppression the erasure left on its hash, so Claim finds it.
	m, err := scanMessage(s.pool.QueryRow(ctx, `
		WITH carried AS (
			INSERT INTO suppressions (channel, address, reason, source, evidence, created_at, renewed_at)
			SELECT channel, $6, reason, source, 'suppressed before its member was erased', created_at, renewed_at
			FROM suppressions WHERE channel = $5 AND address = $19 AND $19 <> ''
			ON CONFLICT (channel, address) DO NOTHING)
		INSERT INTO messages (idempotency_key, campaign_id, step, contact_id, channel, to_addr, body, status, status_rank,
			correlation_id, time_zone, urgent, segments, created_at, updated_at, language, state, not_after, default_window)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15, $16, $17, $18)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING `+messageColumns,
		req.IdempotencyKey, req.CampaignID, req.Step, req.ContactID, string(req.Channel), req.To, req.Body,
		status.Queued, status.Queued.Rank(), req.CorrelationID, req.TimeZone, req.Urgent, segments, s.now(), req.Language,
		req.State, notAfter(req.NotAfter), req.DefaultWindow, s.hashOf(string(req.Channel), req.To)))
	if err == nil {
		return m, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Message{}, false, fmt.Errorf("recording message: %w", err)
	}
	m, err = s.ByKey(ctx, req.IdempotencyKey)
	return m, false, err
}

// ByKey reads the message recorded under an idempotency key.
func (s *Store) ByKey(ctx context.Context, key string) (Message, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE idempotency_key = $1`, key))
	if err != nil {
		return Message{}, fmt.Errorf("reading message %s: %w", key, err)
	}
	return m, nil
}

// RecordFailed logs a send request that can never be sent (an invalid
// address, an oversized body) straight into failed, so the message log
// shows it and why.
func (s *Store) RecordFailed(ctx context.Context, req events.SendRequested, reason string) (Message, bool, error) {
	m, err := scanMessage(s.pool.QueryRow(ctx, `
		INSERT INTO messages (idempotency_key, campaign_id, step, contact_id, channel, to_addr, body, status, status_rank, reason, correlation_id,
			created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING `+messageColumns,
		req.IdempotencyKey, req.CampaignID, req.Step, req.ContactID, string(req.Channel), req.To, req.Body,
		status.Failed, status.Failed.Rank(), reason, req.CorrelationID, s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("recording failed message: %w", err)
	}
	s.move(m.Channel, m.Status, m.ErrorCode)
	return m, true, nil
}

// Claim moves a queued message to sending, or to suppressed when its
// address is on the suppression list, in one statement: the suppression
// check and the decision to send read the same moment. It returns the new
// status, or "" when the message was not queued (someone else has it).
func (s *Store) Claim(ctx context.Context, id string) (status.Status, error) {
	var st status.Status
	var channel string
	err := s.pool.QueryRow(ctx, `
		UPDATE messages m SET
			status = CASE WHEN sup.address IS NULL THEN $2::text ELSE $3::text END,
			status_rank = CASE WHEN sup.address IS NULL THEN $4::smallint ELSE $5::smallint END,
			reason = CASE WHEN sup.address IS NULL THEN m.reason ELSE 'suppressed: ' || sup.reason END,
			deferred_until = NULL,
			claimed_at = CASE WHEN sup.address IS NULL THEN $6::timestamptz ELSE m.claimed_at END,
			updated_at = $6::timestamptz
		FROM messages cur
		LEFT JOIN suppressions sup ON sup.channel = cur.channel AND sup.address = cur.to_addr
		WHERE m.id = $1 AND cur.id = m.id AND m.status = 'queued'
		RETURNING m.status, m.channel`,
		id, status.Sending, status.Suppressed, status.Sending.Rank(), status.Suppressed.Rank(), s.now()).Scan(&st, &channel)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("claiming message %s: %w", id, err)
	}
	s.move(channel, st, "")
	return st, nil
}

// Release puts a message whose provider call certainly did not happen (a
// retryable failure) back to queued, the one backward move there is.
func (s *Store) Release(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE messages SET status = 'queued', status_rank = $3::smallint, updated_at = $2
		WHERE id = $1 AND status = 'sending'`, id, s.now(), status.Queued.Rank())
	if err != nil {
		return fmt.Errorf("releasing message %s: %w", id, err)
	}
	return nil
}

// Requeue puts a message of unknown outcome back in the queue, due now,
// once the provider has said it never received it; the sweeper sends it
// again. It returns false when the message is no longer unknown (a
// callback or another replica's reconciler settled it first).
func (s *Store) Requeue(ctx context.Context, id, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		WITH upd AS (
			UPDATE messages SET status = 'queued', status_rank = $3::smallint, deferred_until = $4::timestamptz, defer_reason = $2,
				unknown_since = NULL, updated_at = $4::timestamptz
			WHERE id = $1 AND status = 'unknown'
			RETURNING id)
		INSERT INTO message_events (message_id, status, provider_status, error_code, applied, received_at)
		SELECT id, 'queued', $2, '', true, $4::timestamptz FROM upd`, id, reason, status.Queued.Rank(), s.now())
	if err != nil {
		return false, fmt.Errorf("requeueing message %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Defer holds a queued message until a time (quiet hours, a frequency
// cap); the sweeper picks it up then. It returns false when the message is
// no longer queued.
func (s *Store) Defer(ctx context.Context, id string, until time.Time, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE messages SET deferred_until = $2, defer_reason = $3, updated_at = $4
		WHERE id = $1 AND status = 'queued'`, id, until, reason, s.now())
	if err != nil {
		return false, fmt.Errorf("deferring message %s: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Due leases up to limit deferred messages whose time has come, pushing
// their deferral on by lease so another replica's sweeper skips them; a
// sweeper that dies mid-batch leaves them due again when the lease ends.
func (s *Store) Due(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE messages SET deferred_until = $1::timestamptz + $2::interval
		WHERE id IN (SELECT id FROM messages WHERE status = 'queued' AND deferred_until <= $1
		             ORDER BY deferred_until LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+messageColumns, now, lease.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("leasing due messages: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, fmt.Errorf("reading due messages: %w", err)
	}
	return list, nil
}

// Unsettled lists messages whose provider call's outcome is still unknown
// since before cutoff: no answer and no callback. The reconciler settles
// them.
func (s *Store) Unsettled(ctx context.Context, cutoff time.Time, limit int) ([]Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE unknown_since < $1 AND status = 'unknown' ORDER BY unknown_since LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("listing unsettled messages: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, fmt.Errorf("reading unsettled messages: %w", err)
	}
	return list, nil
}

// Update is one status report for a message.
type Update struct {
	Status     status.Status
	ProviderID string
	ErrorCode  string
	Reason     string
	// ProviderStatus is the provider's own word, kept in the event log.
	ProviderStatus string
}

// Apply records a status report and moves the message forward if the new
// status ranks higher. It returns the message as it now stands and
// whether it moved. The provider id is filled in even when the status
// does not move: a callback can beat the send's own result.
func (s *Store) Apply(ctx context.Context, id string, u Update) (Message, bool, error) {
	var m Message
	var moved bool
	// One statement: lock the row, move it if the new status ranks
	// higher, and log the report, in a single round trip and commit.
	row := s.pool.QueryRow(ctx, `
		WITH cur AS (SELECT id, status_rank FROM messages WHERE id = $1 FOR UPDATE),
		upd AS (
			UPDATE messages m SET
				provider_id = coalesce(m.provider_id, nullif($2, '')),
				status = CASE WHEN cur.status_rank < $4::smallint THEN $3::text ELSE m.status END,
				status_rank = CASE WHEN cur.status_rank < $4::smallint THEN $4::smallint ELSE m.status_rank END,
				error_code = CASE WHEN cur.status_rank < $4::smallint AND $5::text <> '' THEN $5::text ELSE m.error_code END,
				reason = CASE WHEN cur.status_rank < $4::smallint AND $6::text <> '' THEN $6::text ELSE m.reason END,
				sent_at = CASE WHEN cur.status_rank < $4::smallint AND $4::smallint >= $9::smallint AND m.sent_at IS NULL THEN $8::timestamptz ELSE m.sent_at END,
				`+moveMarks("cur.status_rank < $4::smallint", "$3::text", "$8::timestamptz")+`
				updated_at = $8::timestamptz
			FROM cur WHERE m.id = cur.id
			RETURNING m.*, cur.status_rank < $4::smallint AS moved),
		logged AS (
			INSERT INTO message_events (message_id, status, provider_status, error_code, applied, received_at)
			SELECT id, $3::text, $7::text, $5::text, moved, $8::timestamptz FROM upd)
		SELECT id::text, idempotency_key, campaign_id, step, contact_id, channel, to_addr, body,
			status, coalesce(provider_id, ''), error_code, reason, correlation_id, time_zone, urgent, segments,
			deferred_until, defer_reason, state, not_after, default_window, created_at, updated_at, moved
		FROM upd`,
		id, u.ProviderID, string(u.Status), u.Status.Rank(), u.ErrorCode, u.Reason, u.ProviderStatus, s.now(), status.Accepted.Rank())
	err := row.Scan(&m.ID, &m.IdempotencyKey, &m.CampaignID, &m.Step, &m.ContactID, &m.Channel, &m.To, &m.Body,
		&m.Status, &m.ProviderID, &m.ErrorCode, &m.Reason, &m.CorrelationID, &m.TimeZone, &m.Urgent, &m.Segments,
		&m.DeferredUntil, &m.DeferReason, &m.State, &m.NotAfter, &m.DefaultWindow, &m.CreatedAt, &m.UpdatedAt, &moved)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, false, apperr.NotFound("no message %s", id)
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("applying status to message %s: %w", id, err)
	}
	if moved {
		s.move(m.Channel, m.Status, m.ErrorCode)
	}
	return m, moved, nil
}

// MessageIDByProvider finds our id for a text by its provider id (a Twilio SID).
func (s *Store) MessageIDByProvider(ctx context.Context, providerID string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id::text FROM messages WHERE provider_id = $1 AND channel = 'sms'`, providerID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", apperr.NotFound("no message with provider id %s", providerID)
	}
	if err != nil {
		return "", fmt.Errorf("finding message by provider id: %w", err)
	}
	return id, nil
}

// Get reads one message. An id that is no UUID (one typed into a URL) is
// not found; the id is compared as a uuid, so the primary key finds it
// (compared as text, every read scanned the whole log).
func (s *Store) Get(ctx context.Context, id string) (Message, error) {
	if !events.IsUUID(id) {
		return Message{}, apperr.NotFound("no message %s", id)
	}
	m, err := scanMessage(s.pool.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1::uuid`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, apperr.NotFound("no message %s", id)
	}
	if err != nil {
		return Message{}, fmt.Errorf("reading message: %w", err)
	}
	return m, nil
}

// ListQuery selects messages from the log.
type ListQuery struct {
	CampaignID string
	To         string
	Status     string
	After      string
	Limit      int
}

// List returns a page of the message log in id order.
func (s *Store) List(ctx context.Context, q ListQuery) ([]Message, string, error) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE ($1 = '' OR campaign_id = $1) AND ($2 = '' OR to_addr = $2) AND ($3 = '' OR id > $3::uuid)
		  AND ($5 = '' OR status = $5)
		ORDER BY id LIMIT $4`, q.CampaignID, q.To, q.After, limit+1, q.Status)
	if err != nil {
		return nil, "", fmt.Errorf("listing messages: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, "", fmt.Errorf("reading messages: %w", err)
	}
	if len(list) <= limit {
		return list, "", nil
	}
	return list[:limit], list[limit-1].ID, nil
}

// Suppression is one entry of the suppression list.
type Suppression struct {
	Channel   string    `json:"channel"`
	Address   string    `json:"address"`
	Reason    string    `json:"reason"`
	Source    string    `json:"source"`
	Evidence  string    `json:"evidence"`
	CreatedAt time.Time `json:"created_at"`

	// At is when delivery recorded this opt-out, from its clock: the
	// created time of a new entry, and the renewed time of an entry that
	// was already there (see Unsuppress for why).
	At time.Time `json:"-" db:"-"`

	// Announce is the consent event to publish with the change, through
	// the outbox in the same transaction, so the ledger in contacts can
	// never miss it. It is queued when the address is added, and also
	// when it was there already if AnnounceRepeat is set (a member's
	// second STOP is evidence too).
	Announce       *events.ConsentChanged `json:"-" db:"-"`
	AnnounceRepeat bool                   `json:"-" db:"-"`
}

// Suppress adds an address to the list; added is false when it was there,
// in which case the entry is renewed to sup.At when that is later, so a
// member's second STOP counts as their latest word.
func (s *Store) Suppress(ctx context.Context, sup Suppression) (added bool, err error) {
	if sup.At.IsZero() {
		sup.At = s.now()
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		added, err = s.suppressIn(ctx, tx, sup)
		return err
	})
	if err == nil && sup.Announce != nil {
		s.wake()
	}
	return added, err
}

// suppressInsertSQL adds an address to the list unless it is on it;
// suppressRenewSQL then moves an entry's latest opt-out (renewed_at) to a
// later one, which a member's opt-in must be newer than (Unsuppress).
const (
	suppressInsertSQL = `INSERT INTO suppressions (channel, address, reason, source, evidence, created_at, renewed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (channel, address) DO NOTHING`
	suppressRenewSQL = `UPDATE suppressions SET renewed_at = $3 WHERE channel = $1 AND address = $2 AND renewed_at < $3`
)

// suppressIn is Suppress inside the caller's transaction (sup.At set), so
// a change that suppresses (an organizer's decision on a review) commits
// with the suppression and its consent event or not at all.
func (s *Store) suppressIn(ctx context.Context, tx pgx.Tx, sup Suppression) (added bool, err error) {
	tag, err := tx.Exec(ctx, suppressInsertSQL, sup.Channel, sup.Address, sup.Reason, sup.Source, sup.Evidence, sup.At)
	if err != nil {
		return false, fmt.Errorf("suppressing address: %w", err)
	}
	added = tag.RowsAffected() == 1
	if !added {
		if _, err := tx.Exec(ctx, suppressRenewSQL, sup.Channel, sup.Address, sup.At); err != nil {
			return false, fmt.Errorf("renewing suppression: %w", err)
		}
	}
	if sup.Announce != nil && (added || sup.AnnounceRepeat) {
		return added, outbox.Add(ctx, tx, s.now(), events.SubjectConsentChanged, sup.Announce.ID, sup.Announce)
	}
	return added, nil
}

// Unsuppress lifts an opt-out, queuing the consent event that announces
// it in the same transaction; only a member's own opt-in may call it.
//
// receivedAt is when delivery first received the opt-in (its claim time,
// see ClaimInbound). The rule: an opt-in lifts a suppression only if it was
// received strictly after the latest opt-out recorded for the address
// (renewed_at). Both times are delivery's own clock at the moment it first
// took each message, so the member's words count in the order delivery
// heard them: a START held back in a retry, or replayed, behind a newer
// STOP cannot undo it, and on a tie the suppression stays, the safe side.
// Twilio's inbound webhook carries no send time, so arrival is the order
// there is. removed is false when nothing was lifted, either because the
// address was not suppressed or because the opt-in is older.
func (s *Store) Unsuppress(ctx context.Context, channel, address string, receivedAt time.Time, announce *events.ConsentChanged) (removed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The member's own opt-in lifts an erasure's suppression of the
		// address too (they came back and texted START).
		tag, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE channel = $1 AND address IN ($2, $4) AND renewed_at < $3`,
			channel, address, receivedAt, s.hashOf(channel, address))
		if err != nil {
			return fmt.Errorf("lifting suppression: %w", err)
		}
		removed = tag.RowsAffected() > 0
		if removed && announce != nil {
			return outbox.Add(ctx, tx, s.now(), events.SubjectConsentChanged, announce.ID, announce)
		}
		return nil
	})
	if err == nil && removed {
		s.wake()
	}
	return removed, err
}

// UnsuppressSource lifts an address's suppression only if it was made by
// source (a member's channel choice on the preferences page lifts that
// choice, never their STOP), and only if it is older than at.
func (s *Store) UnsuppressSource(ctx context.Context, channel, address, source string, at time.Time, announce *events.ConsentChanged) (removed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM suppressions WHERE channel = $1 AND address = $2 AND source = $3 AND renewed_at < $4`,
			channel, address, source, at)
		if err != nil {
			return fmt.Errorf("lifting suppression: %w", err)
		}
		removed = tag.RowsAffected() == 1
		if removed && announce != nil {
			return outbox.Add(ctx, tx, s.now(), events.SubjectConsentChanged, announce.ID, announce)
		}
		return nil
	})
	if err == nil && removed {
		s.wake()
	}
	return removed, err
}

// Announce queues a consent event that changes nothing on the
// suppression list (a join by a member who was not opted out: the opt-in
// evidence). Its id dedupes a retried announcement at the broker.
func (s *Store) Announce(ctx context.Context, subject string, ev *events.ConsentChanged) error {
	if err := outbox.Add(ctx, s.pool, s.now(), subject, ev.ID, ev); err != nil {
		return err
	}
	s.wake()
	return nil
}

// OnOutbox sets what to call after a transaction queued an event (the
// relay's Wake), so events go out at once rather than at the next poll.
func (s *Store) OnOutbox(wake func()) { s.wakeOutbox = wake }

func (s *Store) wake() {
	if s.wakeOutbox != nil {
		s.wakeOutbox()
	}
}

// suppressedSQL finds an address on the list, as itself ($2) or as the
// keyed hash an erasure left ($3). Each is looked up by the whole primary
// key: asked as "address IN ($2, $3)", a table without statistics yet was
// read whole, the channel's every suppression for one address.
const suppressedSQL = `SELECT EXISTS (SELECT 1 FROM suppressions WHERE channel = $1 AND address = $2)
	OR EXISTS (SELECT 1 FROM suppressions WHERE channel = $1 AND address = $3)`

// IsSuppressed reports whether an address is on the list.
func (s *Store) IsSuppressed(ctx context.Context, channel, address string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, suppressedSQL, channel, address, s.hashOf(channel, address)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking suppression: %w", err)
	}
	return ok, nil
}

// Suppressions lists the suppression list, newest first, a page of at
// most limit after the position after (the next of the page before; empty
// for the first), optionally only addresses containing search (already
// escaped for ILIKE). next is empty on the last page. Entries are ordered
// by (created_at, channel, address), the primary key breaking ties, so an
// opt-out recorded while an organizer pages never shifts a page.
func (s *Store) Suppressions(ctx context.Context, search, after string, limit int) (list []Suppression, next string, err error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	where, args := "($2 = '' OR address ILIKE '%' || $2 || '%')", []any{limit + 1, search}
	if after != "" {
		at, channel, address, err := parseSuppressionPosition(after)
		if err != nil {
			return nil, "", err
		}
		where += " AND (created_at, channel, address) < ($3, $4, $5)"
		args = append(args, at, channel, address)
	}
	rows, err := s.pool.Query(ctx, `SELECT channel, address, reason, source, evidence, created_at
		FROM suppressions WHERE `+where+`
		ORDER BY created_at DESC, channel DESC, address DESC LIMIT $1`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing suppressions: %w", err)
	}
	list, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Suppression])
	if err != nil {
		return nil, "", fmt.Errorf("reading suppressions: %w", err)
	}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		next = last.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + last.Channel + " " + last.Address
	}
	return list, next, nil
}

// parseSuppressionPosition reads a position Suppressions gave out: a
// time, a channel and an address, separated by spaces (the address last,
// so it may hold anything).
func parseSuppressionPosition(p string) (time.Time, string, string, error) {
	parts := strings.SplitN(p, " ", 3)
	if len(parts) == 3 {
		if at, err := time.Parse(time.RFC3339Nano, parts[0]); err == nil {
			return at, parts[1], parts[2], nil
		}
	}
	return time.Time{}, "", "", apperr.Invalid("after", "is not a position this list gave out")
}

// Inbound is a member's reply as recorded.
type Inbound struct {
	ID         string
	ProviderID string
	Channel    string
	From       string
	To         string
	Body       string
	Keyword    string
	Reason     string
	CampaignID string
	ContactID  string
	Reply      string
	// Review, when set, opens a review of a possible opt-out
	// (consent.Review) with the message's record, in the same
	// transaction (see review.go).
	Review *ReviewDeadline
}

// Claim is a provider message id taken before anything acts on its
// message.
type Claim struct {
	ID string
	// ReceivedAt is when delivery first received the message, whichever
	// delivery of the webhook this is.
	ReceivedAt time.Time
	// Handled is true when an earlier delivery of the webhook acted on the
	// message; Reply is what it answered. Nothing may act on it again.
	Handled bool
	Reply   string
}

// ClaimInbound records a member's message by its provider id, with at as
// the time it was received, before anything acts on it; the id is unique,
// so a replay (Twilio retrying, or a captured, signed webhook sent again)
// finds the first claim. The claim commits on its own: if acting on the
// message then fails, the retry finishes the work with the first time.
func (s *Store) ClaimInbound(ctx context.Context, in Inbound, at time.Time) (Claim, error) {
	var c Claim
	err := s.pool.QueryRow(ctx, `
		INSERT INTO inbound_messages (provider_id, channel, from_addr, to_addr, body, received_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (provider_id) DO NOTHING RETURNING id::text, received_at`,
		in.ProviderID, in.Channel, in.From, in.To, in.Body, at).Scan(&c.ID, &c.ReceivedAt)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Claim{}, fmt.Errorf("claiming inbound message: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT id::text, received_at, handled_at IS NOT NULL, reply
		FROM inbound_messages WHERE provider_id = $1`, in.ProviderID).Scan(&c.ID, &c.ReceivedAt, &c.Handled, &c.Reply)
	if err != nil {
		return Claim{}, fmt.Errorf("reading claimed inbound message: %w", err)
	}
	return c, nil
}

// Arrival is a member's text as claimed (see ClaimInbound), with what
// delivery knew of its sender when it arrived.
type Arrival struct {
	Claim
	// Suppressed is whether the sender's address was on the suppression
	// list (as IsSuppressed).
	Suppressed bool
	// Latest is the newest message sent to the sender (as LatestOutbound).
	Latest Outbound
}

// ClaimArrival is ClaimInbound followed by IsSuppressed and
// LatestOutbound for the sender, in one round trip: a member's STOP
// waits for the database once instead of three times. The claim still
// commits before anything acts on the message; the reads run in its
// transaction, so should one fail the message is not claimed either, as
// if the webhook had not arrived, and the provider's retry claims it.
//
// The claim's commit does not wait for the disk (synchronous_commit off,
// for this transaction only). Nothing is answered on the claim alone:
// the message's record commits after it and does wait, and PostgreSQL
// writes its log in order, so once the record is durable the claim is
// too. A crash before that loses an unanswered claim, which is what a
// claim without its record already meant (the provider's retry finds
// the message unhandled and handles it). Under a large send the wait
// for the disk was most of a STOP's first round trip (docs/performance.md).
func (s *Store) ClaimArrival(ctx context.Context, in Inbound, at time.Time) (Arrival, error) {
	var a Arrival
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	// The second half finds an earlier claim; a claim committed by a
	// concurrent delivery of the webhook after this statement began is
	// in neither half, and read again below.
	b.Queue(`WITH ins AS (
			INSERT INTO inbound_messages (provider_id, channel, from_addr, to_addr, body, received_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (provider_id) DO NOTHING RETURNING id, received_at)
		SELECT id::text, received_at, false, '' FROM ins
		UNION ALL
		SELECT id::text, received_at, handled_at IS NOT NULL, reply FROM inbound_messages WHERE provider_id = $1`,
		in.ProviderID, in.Channel, in.From, in.To, in.Body, at)
	b.Queue(suppressedSQL, in.Channel, in.From, s.hashOf(in.Channel, in.From))
	b.Queue(latestOutboundSQL, in.Channel, in.From)
	br := s.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return Arrival{}, fmt.Errorf("claiming inbound message without waiting for the disk: %w", err)
	}
	claimed := true
	err := br.QueryRow().Scan(&a.ID, &a.ReceivedAt, &a.Handled, &a.Reply)
	if errors.Is(err, pgx.ErrNoRows) {
		claimed, err = false, nil
	}
	if err != nil {
		_ = br.Close()
		return Arrival{}, fmt.Errorf("claiming inbound message: %w", err)
	}
	if err := br.QueryRow().Scan(&a.Suppressed); err != nil {
		_ = br.Close()
		return Arrival{}, fmt.Errorf("checking suppression: %w", err)
	}
	err = br.QueryRow().Scan(&a.Latest.CampaignID, &a.Latest.ContactID, &a.Latest.Language)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		_ = br.Close()
		return Arrival{}, fmt.Errorf("finding latest outbound message: %w", err)
	}
	if err := br.Close(); err != nil {
		return Arrival{}, fmt.Errorf("claiming inbound message: %w", err)
	}
	if !claimed {
		if a.Claim, err = s.ClaimInbound(ctx, in, at); err != nil {
			return Arrival{}, err
		}
	}
	return a, nil
}

// RecordOptOut is RecordInbound for a member's opt-out, with sup (its
// suppression, announced even when the address was already suppressed)
// written in the same transaction, all in one round trip: one commit
// both suppresses the address and marks the message handled, and a
// failure leaves neither (the retry does both). The message's reply is
// confirm when sup added the address, else none. A concurrent delivery
// of the same webhook that marked the message first is answered as
// RecordInbound answers it; this one's suppression and events commit
// anyway, changing nothing (the list is a set, and the outbox's events
// are keyed: a second publish is absorbed).
func (s *Store) RecordOptOut(ctx context.Context, in Inbound, sup Suppression, at time.Time, announce *events.InboundReceived,
	confirm string) (rec Inbound, added, recorded bool, err error) {
	b := &pgx.Batch{}
	// The renewal runs as its own statement, after the insert: it sees a
	// suppression a concurrent opt-out committed meanwhile, as Suppress's
	// does, and does nothing to the row just inserted.
	b.Queue(`WITH sup AS (`+suppressInsertSQL+` RETURNING 1)
		UPDATE inbound_messages SET keyword = $8, reason = $9, campaign_id = $10, contact_id = $11,
			reply = CASE WHEN EXISTS (SELECT 1 FROM sup) THEN $12 ELSE '' END, handled_at = $13
		WHERE id = $7 AND handled_at IS NULL RETURNING reply, EXISTS (SELECT 1 FROM sup)`,
		sup.Channel, sup.Address, sup.Reason, sup.Source, sup.Evidence, sup.At,
		in.ID, in.Keyword, in.Reason, in.CampaignID, in.ContactID, confirm, at)
	b.Queue(suppressRenewSQL, sup.Channel, sup.Address, sup.At)
	q := queue{b}
	if sup.Announce != nil {
		if err := outbox.Add(ctx, q, s.now(), events.SubjectConsentChanged, sup.Announce.ID, sup.Announce); err != nil {
			return Inbound{}, false, false, err
		}
	}
	if announce != nil {
		announce.MessageID = in.ID
		if err := outbox.Add(ctx, q, s.now(), events.SubjectInbound, announce.ID, announce); err != nil {
			return Inbound{}, false, false, err
		}
	}
	recorded, err = s.sendBatch(ctx, b, &in.Reply, &added)
	if err != nil {
		return Inbound{}, false, false, fmt.Errorf("recording opt-out: %w", err)
	}
	s.wake()
	if !recorded {
		prev, err := s.recordedInbound(ctx, in.ID)
		return prev, false, false, err
	}
	return in, added, true, nil
}

// Confirmation is the reply to an opt-out that added the number: Spanish
// when the member's text was (SpanishText), or when the latest message
// sent to them was, else English. Both empty: no reply (the provider's
// own opt-out handling already answered).
type Confirmation struct {
	English, Spanish string
	SpanishText      bool
}

// RecordStop is ClaimArrival and RecordOptOut in one transaction and one
// round trip, for a text whose words alone make it an opt-out: the
// message is recorded handled, with the campaign and contact of the
// latest message sent to the member, and its suppression and events
// commit with it. Under a send at full speed a STOP then waits for the
// database once instead of twice. The returned record has its new id, the
// reply and the campaign and contact filled in.
//
// recorded is false when the provider id was claimed before (the provider
// retrying, or a concurrent delivery of the webhook): this try then
// writes nothing, and the caller takes ClaimArrival's way, which answers
// a handled message as the first time and finishes one an earlier try
// left unhandled (and confirms it, as its suppression adds the number).
func (s *Store) RecordStop(ctx context.Context, in Inbound, sup Suppression, at time.Time, announce *events.InboundReceived,
	confirm Confirmation) (rec Inbound, added, recorded bool, err error) {
	if sup.Channel != in.Channel || sup.Address != in.From {
		return Inbound{}, false, false, fmt.Errorf("recording opt-out: the suppression is not of the sender")
	}
	_, ids := newIDs(1)
	in.ID = ids[0]
	b := &pgx.Batch{}
	// The suppression's channel and address ($1, $2) are the message's
	// and its sender's, which latestOutboundSQL reads by. A message
	// claimed before adds nothing here: the general way that finishes it
	// must see whether its suppression adds the number.
	b.Queue(`WITH sup AS (
			INSERT INTO suppressions (channel, address, reason, source, evidence, created_at, renewed_at)
			SELECT $1, $2, $3, $4, $5, $6, $6 WHERE NOT EXISTS (SELECT 1 FROM inbound_messages WHERE provider_id = $8)
			ON CONFLICT (channel, address) DO NOTHING RETURNING 1),
		latest AS (`+latestOutboundSQL+`)
		INSERT INTO inbound_messages (id, provider_id, channel, from_addr, to_addr, body, keyword, reason,
			campaign_id, contact_id, reply, received_at, handled_at)
		SELECT $7, $8, $1, $2, $9, $10, $11, $12, coalesce(l.campaign_id, ''), coalesce(l.contact_id, ''),
			CASE WHEN NOT EXISTS (SELECT 1 FROM sup) THEN ''
				WHEN $13 OR l.language LIKE 'es%' THEN $14 ELSE $15 END,
			$16, $16
		FROM (VALUES (1)) AS one LEFT JOIN latest AS l ON true
		ON CONFLICT (provider_id) DO NOTHING
		RETURNING reply, campaign_id, contact_id, EXISTS (SELECT 1 FROM sup)`,
		sup.Channel, sup.Address, sup.Reason, sup.Source, sup.Evidence, sup.At,
		in.ID, in.ProviderID, in.To, in.Body, in.Keyword, in.Reason,
		confirm.SpanishText, confirm.Spanish, confirm.English, at)
	// The rest only when this try recorded the message (the row of its
	// new id exists), the inbound event with what the record read of the
	// latest message sent.
	b.Queue(suppressRenewSQL+` AND EXISTS (SELECT 1 FROM inbound_messages WHERE id = $4)`, sup.Channel, sup.Address, sup.At, in.ID)
	q := queue{b}
	if sup.Announce != nil {
		err := outbox.AddWith(ctx, q, s.now(), events.SubjectConsentChanged, sup.Announce.ID, sup.Announce,
			`SELECT '{}'::jsonb FROM inbound_messages WHERE id = $5`, in.ID)
		if err != nil {
			return Inbound{}, false, false, err
		}
	}
	if announce != nil {
		announce.MessageID = in.ID
		err := outbox.AddWith(ctx, q, s.now(), events.SubjectInbound, announce.ID, announce,
			`SELECT jsonb_strip_nulls(jsonb_build_object('campaign_id', nullif(campaign_id, ''), 'contact_id', nullif(contact_id, '')))
			FROM inbound_messages WHERE id = $5`, in.ID)
		if err != nil {
			return Inbound{}, false, false, err
		}
	}
	recorded, err = s.sendBatch(ctx, b, &in.Reply, &in.CampaignID, &in.ContactID, &added)
	if err != nil {
		return Inbound{}, false, false, fmt.Errorf("recording opt-out: %w", err)
	}
	s.wake()
	return in, added, recorded, nil
}

// sendBatch runs b in one round trip and one transaction. Its first
// statement returns at most one row, read into dest (found false when
// there is none); the others return nothing.
func (s *Store) sendBatch(ctx context.Context, b *pgx.Batch, dest ...any) (found bool, err error) {
	br := s.pool.SendBatch(ctx, b)
	err = br.QueryRow().Scan(dest...)
	found = err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		err = nil
	}
	for i := 1; err == nil && i < b.Len(); i++ {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return found, err
}

// queue is an outbox.Execer that queues its statements in a batch, to
// run in the batch's transaction.
type queue struct{ b *pgx.Batch }

func (q queue) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

// RecordInbound records what a claimed message (in.ID, from ClaimInbound)
// meant and the reply to it, and marks it handled at at. When another
// delivery of the same webhook marked it first, it returns that one's
// record with recorded false, so the caller answers the same way.
//
// The first recording also queues the reply's event in the outbox, in the
// same transaction (announce gets the recorded message id), so the webhook
// answers without waiting on NATS and the event is never lost.
func (s *Store) RecordInbound(ctx context.Context, in Inbound, at time.Time, announce *events.InboundReceived) (Inbound, bool, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			UPDATE inbound_messages SET keyword = $2, reason = $3, campaign_id = $4, contact_id = $5, reply = $6, handled_at = $7
			WHERE id = $1 AND handled_at IS NULL RETURNING id::text`,
			in.ID, in.Keyword, in.Reason, in.CampaignID, in.ContactID, in.Reply, at).Scan(&in.ID)
		if err != nil {
			return err
		}
		if in.Review != nil {
			if err := openReview(ctx, tx, in.ID, *in.Review); err != nil {
				return err
			}
		}
		if announce == nil {
			return nil
		}
		announce.MessageID = in.ID
		return outbox.Add(ctx, tx, s.now(), events.SubjectInbound, announce.ID, announce)
	})
	if err == nil {
		s.wake()
		return in, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Inbound{}, false, fmt.Errorf("recording inbound message: %w", err)
	}
	prev, err := s.recordedInbound(ctx, in.ID)
	return prev, false, err
}

// recordedInbound reads a message's record as the delivery of its
// webhook that marked it handled wrote it.
func (s *Store) recordedInbound(ctx context.Context, id string) (Inbound, error) {
	var prev Inbound
	err := s.pool.QueryRow(ctx, `SELECT id::text, provider_id, channel, from_addr, to_addr, body, keyword, reason, campaign_id, contact_id, reply
		FROM inbound_messages WHERE id = $1`, id).Scan(
		&prev.ID, &prev.ProviderID, &prev.Channel, &prev.From, &prev.To, &prev.Body, &prev.Keyword, &prev.Reason,
		&prev.CampaignID, &prev.ContactID, &prev.Reply)
	if err != nil {
		return Inbound{}, fmt.Errorf("reading recorded inbound message: %w", err)
	}
	return prev, nil
}

// latestOutboundSQL finds the campaign and contact of the newest message
// sent to an address, to link a reply to what it answers (ClaimArrival
// reads it with the claim).
const latestOutboundSQL = `SELECT campaign_id, contact_id, language FROM messages
	WHERE channel = $1 AND to_addr = $2 ORDER BY created_at DESC LIMIT 1`

// Outbound is what the latest message to an address says about the
// member: the campaign and contact a reply answers, and the language they
// were written to in.
type Outbound struct {
	CampaignID string
	ContactID  string
	Language   string
}

// Turn is one message in a conversation with a member, either way.
type Turn struct {
	ID         string    `json:"id"`
	Direction  string    `json:"direction"` // outbound or inbound
	Body       string    `json:"body"`
	Status     string    `json:"status,omitempty"`
	Keyword    string    `json:"keyword,omitempty"`
	CampaignID string    `json:"campaign_id,omitempty"`
	At         time.Time `json:"at"`
}

// Conversation returns the texts to and from one address, oldest first:
// what a member was sent and what they answered, in order.
func (s *Store) Conversation(ctx context.Context, channel, address string, limit int) ([]Turn, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	rows, err := s.pool.Query(ctx, `
		SELECT * FROM (
			SELECT id::text, 'outbound' AS direction, body, status, '' AS keyword, campaign_id, created_at AS at
			FROM messages WHERE channel = $1 AND to_addr = $2
			UNION ALL
			SELECT id::text, 'inbound', body, '', keyword, campaign_id, received_at
			FROM inbound_messages WHERE channel = $1 AND from_addr = $2
		) t ORDER BY at DESC LIMIT $3`, channel, address, limit)
	if err != nil {
		return nil, fmt.Errorf("reading conversation: %w", err)
	}
	turns, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Turn])
	if err != nil {
		return nil, fmt.Errorf("reading conversation: %w", err)
	}
	slices.Reverse(turns)
	return turns, nil
}
