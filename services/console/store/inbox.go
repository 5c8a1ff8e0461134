package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/musterhq/muster/shared/apperr"
)

// SavedReply is an answer an admin wrote once for organizers to pick when
// they answer a member.
type SavedReply struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Bounds of a saved reply: a short title to pick it by, and a body no
// longer than a text may be.
const (
	MaxSavedTitle = 80
	MaxSavedBody  = 1600
)

// Check trims the reply and says what is wrong with it, field by field.
func (r *SavedReply) Check() error {
	r.Title, r.Body = strings.TrimSpace(r.Title), strings.TrimSpace(r.Body)
	switch {
	case r.Title == "":
		return apperr.Invalid("title", "give the reply a title to pick it by")
	case utf8.RuneCountInString(r.Title) > MaxSavedTitle:
		return apperr.Invalid("title", "is %d characters; keep it to %d", utf8.RuneCountInString(r.Title), MaxSavedTitle)
	case r.Body == "":
		return apperr.Invalid("body", "write the reply")
	case utf8.RuneCountInString(r.Body) > MaxSavedBody:
		return apperr.Invalid("body", "is %d characters; a text can be at most %d", utf8.RuneCountInString(r.Body), MaxSavedBody)
	}
	return nil
}

const savedColumns = `id::text, title, body, created_at, updated_at`

func scanSaved(row pgx.Row) (SavedReply, error) {
	var r SavedReply
	err := row.Scan(&r.ID, &r.Title, &r.Body, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// savedErr turns a duplicate title into a conflict and a missing row into
// not found.
func savedErr(err error, doing string) error {
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return apperr.Conflict("a saved reply with that title already exists")
	case errors.Is(err, pgx.ErrNoRows):
		return apperr.NotFound("no such saved reply")
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// SavedReplies lists the saved replies by title.
func (s *Store) SavedReplies(ctx context.Context) ([]SavedReply, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+savedColumns+` FROM saved_replies ORDER BY lower(title)`)
	if err != nil {
		return nil, fmt.Errorf("listing saved replies: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (SavedReply, error) { return scanSaved(r) })
	if err != nil {
		return nil, fmt.Errorf("reading saved replies: %w", err)
	}
	if list == nil {
		list = []SavedReply{}
	}
	return list, nil
}

// SavedReply reads one saved reply.
func (s *Store) SavedReply(ctx context.Context, id string) (SavedReply, error) {
	r, err := scanSaved(s.pool.QueryRow(ctx, `SELECT `+savedColumns+` FROM saved_replies WHERE id::text = $1`, id))
	if err != nil {
		return SavedReply{}, savedErr(err, "reading saved reply")
	}
	return r, nil
}

// CreateSavedReply adds a saved reply; a title already used is a
// conflict.
func (s *Store) CreateSavedReply(ctx context.Context, r SavedReply, by string) (SavedReply, error) {
	if err := r.Check(); err != nil {
		return SavedReply{}, err
	}
	out, err := scanSaved(s.pool.QueryRow(ctx, `INSERT INTO saved_replies (title, body, created_by, created_at, updated_at)
		VALUES ($1, $2, nullif($3, '')::uuid, $4, $4) RETURNING `+savedColumns, r.Title, r.Body, organizerOrNone(by), s.now()))
	if err != nil {
		return SavedReply{}, savedErr(err, "creating saved reply")
	}
	return out, nil
}

// UpdateSavedReply replaces a saved reply's title and body.
func (s *Store) UpdateSavedReply(ctx context.Context, r SavedReply) (SavedReply, error) {
	if err := r.Check(); err != nil {
		return SavedReply{}, err
	}
	out, err := scanSaved(s.pool.QueryRow(ctx, `UPDATE saved_replies SET title = $2, body = $3, updated_at = $4
		WHERE id::text = $1 RETURNING `+savedColumns, r.ID, r.Title, r.Body, s.now()))
	if err != nil {
		return SavedReply{}, savedErr(err, "changing saved reply")
	}
	return out, nil
}

// DeleteSavedReply removes a saved reply, returning what it was.
func (s *Store) DeleteSavedReply(ctx context.Context, id string) (SavedReply, error) {
	out, err := scanSaved(s.pool.QueryRow(ctx, `DELETE FROM saved_replies WHERE id::text = $1 RETURNING `+savedColumns, id))
	if err != nil {
		return SavedReply{}, savedErr(err, "deleting saved reply")
	}
	return out, nil
}

// organizerOrNone keeps an organizer's id and drops a token's ("token:…"),
// which names no organizer.
func organizerOrNone(id string) string {
	if strings.HasPrefix(id, "token:") {
		return ""
	}
	return id
}

// TouchConversations records that an organizer answered or marked
// handled these inbox conversations (the inbox's "mine").
func (s *Store) TouchConversations(ctx context.Context, organizerID string, conversations []string) error {
	if organizerOrNone(organizerID) == "" || len(conversations) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO inbox_touches (organizer_id, conversation, at)
		SELECT $1::uuid, c, $3 FROM unnest($2::text[]) AS c
		ON CONFLICT (organizer_id, conversation) DO UPDATE SET at = excluded.at`, organizerID, conversations, s.now())
	if err != nil {
		return fmt.Errorf("recording the organizer's conversations: %w", err)
	}
	return nil
}

// TouchedConversations are the conversations an organizer answered or
// marked handled.
func (s *Store) TouchedConversations(ctx context.Context, organizerID string) (map[string]bool, error) {
	out := map[string]bool{}
	if organizerOrNone(organizerID) == "" {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT conversation FROM inbox_touches WHERE organizer_id = $1::uuid`, organizerID)
	if err != nil {
		return nil, fmt.Errorf("reading the organizer's conversations: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the organizer's conversations: %w", err)
	}
	for _, c := range list {
		out[c] = true
	}
	return out, nil
}
