// Package store keeps contacts, consent and imports in PostgreSQL.
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
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
)

// Store reads and writes the contacts database.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	// erasure hashes an erased member's addresses (erase.go); the zero
	// key refuses erasures.
	erasure erasure.Key
}

// New wraps a pool. now is the service's clock: every time the store
// writes or compares (an import's heartbeat, a contact's last change, the
// ledger's recording time) comes from it, never from PostgreSQL's now()
// (docs/delivery.md, "One clock").
func New(pool *pgxpool.Pool, now func() time.Time) *Store { return &Store{pool: pool, now: now} }

// WithErasureKey sets the key erasures hash addresses with (set once, at
// start-up, before the store is shared) and returns the store.
func (s *Store) WithErasureKey(k erasure.Key) *Store {
	s.erasure = k
	return s
}

// Now is the store's clock, for callers that stamp what they hand it.
func (s *Store) Now() time.Time { return s.now() }

const contactColumns = `c.id::text, coalesce(c.member_id, ''), c.first_name, c.last_name, coalesce(c.phone, ''),
	coalesce(c.email, ''), c.time_zone, c.language, c.tags, c.attributes, c.created_at, c.updated_at,
	c.rating, c.rated_at, coalesce(c.rated_by, ''), c.assignee_id, c.assignee_name, c.assignee_first_name`

// latestRating is where a contact's latest rating is scanned.
type latestRating struct {
	level *int16
	at    *time.Time
	by    string
}

func (l *latestRating) targets() []any { return []any{&l.level, &l.at, &l.by} }

// of is the rating as a contact carries it, nil while unassessed.
func (l *latestRating) of() *contact.Rating {
	if l.level == nil || l.at == nil {
		return nil
	}
	n := int(*l.level)
	return &contact.Rating{Rating: n, Label: contact.RatingLabel(n), RatedBy: l.by, RatedAt: *l.at}
}

// contactTargets are the scan targets of contactColumns, in order; done
// finishes the contact once scanned.
func contactTargets(c *contact.Contact) (targets []any, done func()) {
	var phone, email string
	var l latestRating
	targets = append([]any{&c.ID, &c.MemberID, &c.FirstName, &c.LastName, &phone, &email, &c.TimeZone, &c.Language,
		&c.Tags, &c.Attributes, &c.CreatedAt, &c.UpdatedAt}, l.targets()...)
	targets = append(targets, &c.AssigneeID, &c.AssigneeName, &c.AssigneeFirstName)
	return targets, func() {
		c.Phone, c.Email = contact.Phone(phone), contact.Email(email)
		c.Rating = l.of()
	}
}

func scanContact(row pgx.Row) (contact.Contact, error) {
	var c contact.Contact
	targets, done := contactTargets(&c)
	err := row.Scan(targets...)
	done()
	return c, err
}

// uniqueConflict turns a unique violation on a contact into a conflict
// naming the field another contact already holds.
func uniqueConflict(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return nil
	}
	field := "phone"
	switch pgErr.ConstraintName {
	case "contacts_email_key":
		field = "email"
	case "contacts_member_id_key":
		field = "member_id"
	}
	return &apperr.Error{Kind: apperr.KindConflict, Field: field, Message: "another contact already has this " + field}
}

// Create inserts a normalized contact. A phone, email or member id that
// another contact already has is a conflict naming the field. evidence,
// when not empty, is how the contact came to be subscribed (who created
// it through the API): it is written to the consent ledger for each of
// the contact's addresses, in the same transaction, and changes no
// consent.
func (s *Store) Create(ctx context.Context, c contact.Contact, evidence string) (contact.Contact, error) {
	var created contact.Contact
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `
			INSERT INTO contacts AS c (member_id, first_name, last_name, phone, email, time_zone, language, tags, attributes,
				created_at, updated_at)
			VALUES (nullif($1, ''), $2, $3, nullif($4, ''), nullif($5, ''), $6, $7, $8, $9, $10, $10)
			RETURNING `+contactColumns,
			c.MemberID, c.FirstName, c.LastName, string(c.Phone), string(c.Email), c.TimeZone, c.Language, c.Tags, c.Attributes, s.now())
		var err error
		created, err = scanContact(row)
		if conflict := uniqueConflict(err); conflict != nil {
			return conflict
		}
		if err != nil {
			return fmt.Errorf("inserting contact: %w", err)
		}
		if err := s.carryErasedOptOuts(ctx, tx, addressesOf(created), "a new contact"); err != nil {
			return err
		}
		if evidence == "" {
			return nil
		}
		for ch, addr := range map[events.Channel]string{events.ChannelSMS: string(created.Phone), events.ChannelEmail: string(created.Email)} {
			if addr == "" {
				continue
			}
			if _, err := tx.Exec(ctx, `
				INSERT INTO consent_ledger (event_id, channel, address, change, source, evidence, occurred_at, recorded_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
				"created."+created.ID+"."+string(ch), string(ch), addr, events.ConsentSubscribed, events.SourceAPI, evidence, s.now()); err != nil {
				return fmt.Errorf("recording opt-in evidence: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return contact.Contact{}, err
	}
	return created, nil
}

// JoinedTag marks the contacts who added themselves by texting the join
// keyword.
const JoinedTag = "joined-by-text"

// Joined adds a contact for a phone number that texted the join keyword,
// unless one has it already; at is when they texted. It reports whether
// it added one.
func (s *Store) Joined(ctx context.Context, phone string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO contacts (phone, first_name, last_name, tags, attributes, created_at, updated_at)
		VALUES ($1, '', '', $2, '{}', $3, $3) ON CONFLICT DO NOTHING`, phone, []string{JoinedTag}, at)
	if err != nil {
		return false, fmt.Errorf("adding a member who joined by text: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Get finds one contact by id.
func (s *Store) Get(ctx context.Context, id string) (contact.Contact, error) {
	return get(ctx, s.pool, id, "")
}

func get(ctx context.Context, q querier, id, lock string) (contact.Contact, error) {
	if !events.IsUUID(id) {
		return contact.Contact{}, apperr.NotFound("no contact %s", id)
	}
	c, err := scanContact(q.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts c WHERE c.id = $1::uuid `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return contact.Contact{}, apperr.NotFound("no contact %s", id)
	}
	if err != nil {
		return contact.Contact{}, fmt.Errorf("reading contact %s: %w", id, err)
	}
	return c, nil
}

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Update applies an organizer's edit under a row lock, so two edits of one
// contact cannot lose each other. It writes the contact row only: consent
// lives with the address, so changing a phone away and back finds the
// number's opt-out where it was.
func (s *Store) Update(ctx context.Context, id string, p contact.Patch, region string) (contact.Contact, error) {
	var out contact.Contact
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := get(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		next, err := p.Apply(c, region)
		if err != nil {
			return err
		}
		if out, err = write(ctx, tx, next, s.now()); err != nil {
			return err
		}
		return s.carryErasedOptOuts(ctx, tx, addressesOf(out), "an edit of contact "+out.ID)
	})
	return out, err
}

func write(ctx context.Context, tx pgx.Tx, c contact.Contact, now time.Time) (contact.Contact, error) {
	row := tx.QueryRow(ctx, `
		UPDATE contacts AS c SET member_id = nullif($2, ''), first_name = $3, last_name = $4,
			phone = nullif($5, ''), email = nullif($6, ''), time_zone = $7, language = $8,
			tags = $9, attributes = $10, updated_at = $11
		WHERE c.id = $1::uuid
		RETURNING `+contactColumns,
		c.ID, c.MemberID, c.FirstName, c.LastName, string(c.Phone), string(c.Email), c.TimeZone, c.Language, c.Tags, c.Attributes, now)
	out, err := scanContact(row)
	if conflict := uniqueConflict(err); conflict != nil {
		return contact.Contact{}, conflict
	}
	if err != nil {
		return contact.Contact{}, fmt.Errorf("updating contact %s: %w", c.ID, err)
	}
	return out, nil
}

// Merge folds contact fromID into intoID (see contact.Merge) and deletes
// fromID, in one transaction with both rows locked in id order.
func (s *Store) Merge(ctx context.Context, intoID, fromID string) (contact.Contact, error) {
	if intoID == fromID {
		return contact.Contact{}, apperr.Invalid("from", "a contact cannot be merged into itself")
	}
	var out contact.Contact
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		first, second := intoID, fromID
		if second < first {
			first, second = second, first
		}
		if _, err := get(ctx, tx, first, "FOR UPDATE"); err != nil {
			return err
		}
		if _, err := get(ctx, tx, second, "FOR UPDATE"); err != nil {
			return err
		}
		into, err := get(ctx, tx, intoID, "")
		if err != nil {
			return err
		}
		from, err := get(ctx, tx, fromID, "")
		if err != nil {
			return err
		}
		merged, err := contact.Merge(into, from)
		if err != nil {
			return err
		}
		// Ratings follow the member: the history moves, and the latest of
		// both is the merged contact's.
		if _, err := tx.Exec(ctx, `UPDATE contact_ratings SET contact_id = $1::uuid WHERE contact_id = $2::uuid`, intoID, fromID); err != nil {
			return fmt.Errorf("moving the ratings of merged contact %s: %w", fromID, err)
		}
		// The source goes first so its phone and email are free to move.
		if _, err := tx.Exec(ctx, `DELETE FROM contacts WHERE id = $1::uuid`, fromID); err != nil {
			return fmt.Errorf("deleting merged contact %s: %w", fromID, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE contacts c SET (rating, rated_at, rated_by) = (
				SELECT r.rating, r.rated_at, r.rated_by FROM contact_ratings r
				WHERE r.contact_id = c.id ORDER BY r.rated_at DESC, r.id DESC LIMIT 1)
			WHERE c.id = $1::uuid`, intoID); err != nil {
			return fmt.Errorf("taking the latest rating into contact %s: %w", intoID, err)
		}
		out, err = write(ctx, tx, merged, s.now())
		return err
	})
	return out, err
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
