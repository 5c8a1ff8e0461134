package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Sort orders for List. Each ends in the contact id, so a cursor names one
// exact place even among contacts created in the same import batch.
const (
	SortCreated     = "created"  // oldest first
	SortCreatedDesc = "-created" // newest first
	SortName        = "name"     // by last name, then first name, ignoring case
)

// ListQuery selects a page of contacts.
type ListQuery struct {
	Filter filter.Node
	Sort   string
	// Cursor is the Next of the previous page, empty for the first.
	Cursor string
	Limit  int
}

// cursor is the position after which the next page starts, handed to
// clients as opaque base64 so its shape can change.
type cursor struct {
	Sort  string    `json:"s"`
	At    time.Time `json:"t,omitzero"`
	Last  string    `json:"l,omitempty"`
	First string    `json:"f,omitempty"`
	ID    string    `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // a struct of strings and a time always encodes
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, sort string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || !events.IsUUID(c.ID) {
		return cursor{}, apperr.Invalid("cursor", "is not a cursor this service handed out")
	}
	if c.Sort != sort {
		return cursor{}, apperr.Invalid("cursor", "was made for sort %q, not %q", c.Sort, sort)
	}
	return c, nil
}

// List returns one page of contacts matching the filter and the cursor of
// the next page, empty on the last page.
func (s *Store) List(ctx context.Context, q ListQuery) ([]contact.Contact, string, error) {
	limit := clampLimit(q.Limit)
	if q.Sort == "" {
		q.Sort = SortCreated
	}
	a := &sqlArgs{}
	where := compile(q.Filter, a)
	var order string
	switch q.Sort {
	case SortCreated:
		order = "c.created_at, c.id"
	case SortCreatedDesc:
		order = "c.created_at DESC, c.id DESC"
	case SortName:
		order = "lower(c.last_name), lower(c.first_name), c.id"
	default:
		return nil, "", apperr.Invalid("sort", "want created, -created or name, got %q", q.Sort)
	}
	if q.Cursor != "" {
		cur, err := decodeCursor(q.Cursor, q.Sort)
		if err != nil {
			return nil, "", err
		}
		switch q.Sort {
		case SortCreated:
			where += " AND (c.created_at, c.id) > (" + a.arg(cur.At) + "::timestamptz, " + a.arg(cur.ID) + "::uuid)"
		case SortCreatedDesc:
			where += " AND (c.created_at, c.id) < (" + a.arg(cur.At) + "::timestamptz, " + a.arg(cur.ID) + "::uuid)"
		case SortName:
			where += " AND (lower(c.last_name), lower(c.first_name), c.id) > (" + a.arg(cur.Last) + ", " + a.arg(cur.First) + ", " + a.arg(cur.ID) + "::uuid)"
		}
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+contactColumns+`, lower(c.last_name), lower(c.first_name)
		FROM contacts c WHERE `+where+` ORDER BY `+order+` LIMIT `+a.arg(limit+1), a.list...)
	if err != nil {
		return nil, "", fmt.Errorf("listing contacts: %w", err)
	}
	type listed struct {
		c           contact.Contact
		last, first string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (listed, error) {
		var l listed
		targets, done := contactTargets(&l.c)
		err := r.Scan(append(targets, &l.last, &l.first)...)
		done()
		return l, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("reading contacts: %w", err)
	}
	list, next, _ := page(list, limit, func(l listed) string {
		return cursor{Sort: q.Sort, At: l.c.CreatedAt, Last: l.last, First: l.first, ID: l.c.ID}.encode()
	})
	out := make([]contact.Contact, len(list))
	for i, l := range list {
		out[i] = l.c
	}
	return out, next, nil
}

// Count sizes an audience in one pass over the matching contacts.
func (s *Store) Count(ctx context.Context, n filter.Node) (events.AudienceCount, error) {
	a := &sqlArgs{}
	where := compile(n, a)
	var r events.AudienceCount
	err := s.pool.QueryRow(ctx, `
		SELECT count(*),
			count(*) FILTER (WHERE c.phone IS NOT NULL AND ks.address IS NULL),
			count(*) FILTER (WHERE ks.address IS NOT NULL),
			count(*) FILTER (WHERE c.phone IS NULL),
			count(*) FILTER (WHERE c.email IS NOT NULL AND ke.address IS NULL),
			count(*) FILTER (WHERE ke.address IS NOT NULL),
			count(*) FILTER (WHERE c.email IS NULL)
		FROM contacts c
		LEFT JOIN consent ks ON ks.channel = 'sms' AND ks.address = c.phone AND ks.status = 'opted_out'
		LEFT JOIN consent ke ON ke.channel = 'email' AND ke.address = c.email AND ke.status = 'opted_out'
		WHERE `+where, a.list...).Scan(&r.Total,
		&r.SMS.Reachable, &r.SMS.OptedOut, &r.SMS.NoAddress,
		&r.Email.Reachable, &r.Email.OptedOut, &r.Email.NoAddress)
	if err != nil {
		return events.AudienceCount{}, fmt.Errorf("counting audience: %w", err)
	}
	return r, nil
}

// AudiencePage returns members matching the filter who can be reached on
// ch: they have an address for it and that address is not opted out.
// Delivery checks suppression again at send time; this only keeps the
// fan-out honest. Pages run in contact id order after the id after.
func (s *Store) AudiencePage(ctx context.Context, n filter.Node, ch events.Channel, after string, limit int) ([]events.Member, string, error) {
	limit = clampLimit(limit)
	col := "c.phone"
	if ch == events.ChannelEmail {
		col = "c.email"
	}
	a := &sqlArgs{}
	where := compile(n, a)
	if after != "" {
		if !events.IsUUID(after) {
			return nil, "", apperr.Invalid("after", "is not a contact id")
		}
		where += " AND c.id > " + a.arg(after) + "::uuid"
	}
	rows, err := s.pool.Query(ctx, `
		SELECT c.id::text, c.first_name, c.last_name, coalesce(c.phone, ''), coalesce(c.email, ''),
		       c.time_zone, c.language, c.attributes, c.assignee_first_name
		FROM contacts c
		WHERE `+where+` AND `+col+` IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM consent k WHERE k.channel = `+a.arg(string(ch))+`
		                  AND k.address = `+col+` AND k.status = 'opted_out')
		ORDER BY c.id LIMIT `+a.arg(limit+1), a.list...)
	if err != nil {
		return nil, "", fmt.Errorf("querying audience: %w", err)
	}
	members, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Member, error) {
		var m events.Member
		err := r.Scan(&m.ContactID, &m.FirstName, &m.LastName, &m.Phone, &m.Email, &m.TimeZone, &m.Language, &m.Fields, &m.OrganizerFirstName)
		return m, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("reading audience: %w", err)
	}
	return page(members, limit, func(m events.Member) string { return m.ContactID })
}

// BulkTags adds and removes tags on every contact the filter matches in
// one statement, and counts the contacts whose tags changed.
func (s *Store) BulkTags(ctx context.Context, n filter.Node, add, remove []string) (int64, error) {
	a := &sqlArgs{}
	where := compile(n, a)
	addArg, removeArg, nowArg := a.arg(add), a.arg(remove), a.arg(s.now())
	tag, err := s.pool.Exec(ctx, `
		UPDATE contacts c
		SET tags = ARRAY(
				SELECT t FROM unnest(c.tags || `+addArg+`::text[]) WITH ORDINALITY AS u(t, n)
				WHERE t <> ALL (`+removeArg+`::text[])
				GROUP BY t ORDER BY min(n)),
			updated_at = `+nowArg+`::timestamptz
		WHERE `+where+` AND (NOT c.tags @> `+addArg+`::text[] OR c.tags && `+removeArg+`::text[])`, a.list...)
	if err != nil {
		return 0, fmt.Errorf("changing tags: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ExportRow is one contact as exported, with its addresses' consent:
// "subscribed", "opted_out", or empty when there is no such address.
type ExportRow struct {
	contact.Contact
	SMSConsent   string
	EmailConsent string
}

// Export streams the contacts a filter matches, oldest first. columns is
// called first with the custom attribute keys present (standard ones
// excluded, at most 200), then row for each contact, all from one
// snapshot. Nothing is held in memory beyond one row.
func (s *Store) Export(ctx context.Context, n filter.Node, columns func(custom []string) error, row func(ExportRow) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		a := &sqlArgs{}
		where := compile(n, a)
		known := a.arg(contact.KnownAttributes())
		rows, err := tx.Query(ctx, `
			SELECT DISTINCT k FROM contacts c, jsonb_object_keys(c.attributes) AS k
			WHERE `+where+` AND k <> ALL (`+known+`::text[]) ORDER BY k LIMIT 200`, a.list...)
		if err != nil {
			return fmt.Errorf("listing attribute keys: %w", err)
		}
		custom, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("reading attribute keys: %w", err)
		}
		if err := columns(custom); err != nil {
			return err
		}
		a = &sqlArgs{}
		where = compile(n, a)
		rows, err = tx.Query(ctx, `
			SELECT `+contactColumns+`,
				CASE WHEN c.phone IS NULL THEN '' WHEN ks.address IS NULL THEN 'subscribed' ELSE 'opted_out' END,
				CASE WHEN c.email IS NULL THEN '' WHEN ke.address IS NULL THEN 'subscribed' ELSE 'opted_out' END
			FROM contacts c
			LEFT JOIN consent ks ON ks.channel = 'sms' AND ks.address = c.phone AND ks.status = 'opted_out'
			LEFT JOIN consent ke ON ke.channel = 'email' AND ke.address = c.email AND ke.status = 'opted_out'
			WHERE `+where+` ORDER BY c.created_at, c.id`, a.list...)
		if err != nil {
			return fmt.Errorf("exporting contacts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r ExportRow
			targets, done := contactTargets(&r.Contact)
			if err := rows.Scan(append(targets, &r.SMSConsent, &r.EmailConsent)...); err != nil {
				return fmt.Errorf("reading exported contact: %w", err)
			}
			done()
			if err := row(r); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("exporting contacts: %w", err)
		}
		return nil
	})
}

// TagCount is one tag in use and how many contacts carry it.
type TagCount struct {
	Tag   string `json:"tag"`
	Count int64  `json:"count"`
}

// MaxTagList is the most tags Tags returns at once.
const MaxTagList = 200

// Tags lists the tags contacts carry, most used first (then by name),
// those starting with prefix when one is given (tags are stored lower
// case, so the prefix is compared lower case too).
func (s *Store) Tags(ctx context.Context, prefix string, limit int) ([]TagCount, error) {
	if limit <= 0 || limit > MaxTagList {
		limit = MaxTagList
	}
	rows, err := s.pool.Query(ctx, `
		SELECT t, count(*) FROM contacts c, unnest(c.tags) AS t
		WHERE starts_with(t, $1)
		GROUP BY t ORDER BY count(*) DESC, t LIMIT $2`, strings.ToLower(strings.TrimSpace(prefix)), limit)
	if err != nil {
		return nil, fmt.Errorf("listing tags: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagCount, error) {
		var t TagCount
		err := r.Scan(&t.Tag, &t.Count)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading tags: %w", err)
	}
	return out, nil
}
