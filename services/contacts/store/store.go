// Package store keeps contacts and consent in PostgreSQL.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Store reads and writes the contacts database.
type Store struct {
	pool *pgxpool.Pool
}

// New wraps a pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const contactColumns = `id::text, first_name, last_name, coalesce(phone, ''), coalesce(email, ''),
	time_zone, language, tags, attributes, created_at, updated_at`

func scanContact(row pgx.Row) (contact.Contact, error) {
	var c contact.Contact
	var phone, email string
	err := row.Scan(&c.ID, &c.FirstName, &c.LastName, &phone, &email, &c.TimeZone, &c.Language,
		&c.Tags, &c.Attributes, &c.CreatedAt, &c.UpdatedAt)
	c.Phone, c.Email = contact.Phone(phone), contact.Email(email)
	return c, err
}

// Create inserts a normalized contact. A phone or email that another
// contact already has is a conflict naming the field.
func (s *Store) Create(ctx context.Context, c contact.Contact) (contact.Contact, error) {
	row := s.pool.QueryRow(ctx, `
		INSERT INTO contacts (first_name, last_name, phone, email, time_zone, language, tags, attributes)
		VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6, $7, $8)
		RETURNING `+contactColumns,
		c.FirstName, c.LastName, string(c.Phone), string(c.Email), c.TimeZone, c.Language, c.Tags, c.Attributes)
	created, err := scanContact(row)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		field := "phone"
		if pgErr.ConstraintName == "contacts_email_key" {
			field = "email"
		}
		return contact.Contact{}, &apperr.Error{Kind: apperr.KindConflict, Field: field, Message: "another contact already has this " + field}
	}
	if err != nil {
		return contact.Contact{}, fmt.Errorf("inserting contact: %w", err)
	}
	return created, nil
}

// Get finds one contact by id.
func (s *Store) Get(ctx context.Context, id string) (contact.Contact, error) {
	c, err := scanContact(s.pool.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id::text = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return contact.Contact{}, apperr.NotFound("no contact %s", id)
	}
	if err != nil {
		return contact.Contact{}, fmt.Errorf("reading contact %s: %w", id, err)
	}
	return c, nil
}

// ListQuery selects a page of contacts in id order.
type ListQuery struct {
	Tag   string
	After string
	Limit int
}

// List returns one page of contacts and the cursor for the next, empty on
// the last page.
func (s *Store) List(ctx context.Context, q ListQuery) ([]contact.Contact, string, error) {
	limit := clampLimit(q.Limit)
	rows, err := s.pool.Query(ctx, `
		SELECT `+contactColumns+` FROM contacts
		WHERE ($1 = '' OR tags @> ARRAY[$1]) AND ($2 = '' OR id > $2::uuid)
		ORDER BY id LIMIT $3`, q.Tag, q.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("listing contacts: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (contact.Contact, error) { return scanContact(r) })
	if err != nil {
		return nil, "", fmt.Errorf("reading contacts: %w", err)
	}
	return page(list, limit, func(c contact.Contact) string { return c.ID })
}

// AudiencePage returns members carrying tag who can be reached on ch: they
// have an address for it and that address is not opted out. Delivery checks
// suppression again at send time; this only keeps the fan-out honest.
func (s *Store) AudiencePage(ctx context.Context, req events.AudiencePageRequest) ([]events.Member, string, error) {
	limit := clampLimit(req.Limit)
	addr := "phone"
	if req.Channel == events.ChannelEmail {
		addr = "email"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id::text, c.first_name, c.last_name, coalesce(c.phone, ''), coalesce(c.email, ''),
		       c.time_zone, c.language, c.attributes
		FROM contacts c
		LEFT JOIN consent k ON k.channel = $2 AND k.address = c.`+addr+`
		WHERE c.tags @> ARRAY[$1] AND c.`+addr+` IS NOT NULL
		  AND k.status IS DISTINCT FROM 'opted_out'
		  AND ($3 = '' OR c.id > $3::uuid)
		ORDER BY c.id LIMIT $4`, req.Tag, string(req.Channel), req.After, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("querying audience: %w", err)
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Member, error) {
		var m events.Member
		err := r.Scan(&m.ContactID, &m.FirstName, &m.LastName, &m.Phone, &m.Email, &m.TimeZone, &m.Language, &m.Fields)
		return m, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("reading audience: %w", err)
	}
	return page(members, limit, func(m events.Member) string { return m.ContactID })
}

// ApplyConsent records a consent event in the ledger once and moves the
// current state, unless a later change for the address was already applied
// (events for one address can arrive out of order after a redelivery).
func (s *Store) ApplyConsent(ctx context.Context, ev events.ConsentChanged) (applied bool, err error) {
	status := "opted_out"
	if ev.Change == events.ConsentResubscribe {
		status = "subscribed"
	}
	at := ev.At
	if at.IsZero() {
		at = ev.OccurredAt
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO consent_ledger (event_id, channel, address, change, source, evidence, reason, occurred_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING`,
			ev.ID, string(ev.Channel), ev.Address, ev.Change, ev.Source, ev.Evidence, ev.Reason, at)
		if err != nil {
			return fmt.Errorf("recording consent event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // seen before: applied exactly once
		}
		applied = true
		_, err = tx.Exec(ctx, `
			INSERT INTO consent (channel, address, status, source, changed_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (channel, address) DO UPDATE
			SET status = excluded.status, source = excluded.source, changed_at = excluded.changed_at
			WHERE consent.changed_at <= excluded.changed_at`,
			string(ev.Channel), ev.Address, status, ev.Source, at)
		if err != nil {
			return fmt.Errorf("updating consent state: %w", err)
		}
		return nil
	})
	return applied, err
}

// ConsentEntry is one line of an address's consent history.
type ConsentEntry struct {
	EventID    string    `json:"event_id"`
	Channel    string    `json:"channel"`
	Address    string    `json:"address"`
	Change     string    `json:"change"`
	Source     string    `json:"source"`
	Evidence   string    `json:"evidence"`
	Reason     string    `json:"reason,omitempty"`
	OccurredAt time.Time `json:"occurred_at"`
}

// ConsentHistory returns the ledger for a contact's addresses, oldest first.
func (s *Store) ConsentHistory(ctx context.Context, c contact.Contact) ([]ConsentEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT event_id, channel, address, change, source, evidence, reason, occurred_at
		FROM consent_ledger
		WHERE (channel = 'sms' AND address = $1) OR (channel = 'email' AND address = $2)
		ORDER BY occurred_at, id`, string(c.Phone), string(c.Email))
	if err != nil {
		return nil, fmt.Errorf("reading consent history: %w", err)
	}
	entries, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ConsentEntry])
	if err != nil {
		return nil, fmt.Errorf("reading consent history: %w", err)
	}
	return entries, nil
}

// ConsentStatus is the current state of an address on a channel:
// "subscribed" unless an opt-out stands.
func (s *Store) ConsentStatus(ctx context.Context, ch events.Channel, address string) (string, error) {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM consent WHERE channel = $1 AND address = $2`, string(ch), address).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "subscribed", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading consent: %w", err)
	}
	return status, nil
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 5000:
		return 5000
	default:
		return n
	}
}

// page trims a result fetched with limit+1 rows and names the cursor of the
// next page when there is one.
func page[T any](list []T, limit int, key func(T) string) ([]T, string, error) {
	if len(list) <= limit {
		return list, "", nil
	}
	list = list[:limit]
	return list, key(list[len(list)-1]), nil
}
