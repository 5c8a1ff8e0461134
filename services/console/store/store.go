// Package store keeps the console's own data in PostgreSQL: organizers,
// sessions, API tokens and the audit log. Nothing here belongs to another
// service; the console reaches those through their HTTP APIs.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/shared/apperr"
)

// Store runs the console's queries.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New wraps a pool. now is the console's clock: every time the store
// writes or compares (sessions' expiry, tokens' use and revocation) comes
// from it, never from PostgreSQL's now() (docs/delivery.md, "One clock").
func New(pool *pgxpool.Pool, now func() time.Time) *Store { return &Store{pool: pool, now: now} }

const organizerColumns = `id, email, name, role, password_hash, must_change, disabled_at IS NOT NULL, created_at`

func scanOrganizer(row pgx.Row) (account.Organizer, error) {
	var o account.Organizer
	var role string
	if err := row.Scan(&o.ID, &o.Email, &o.Name, &role, &o.PasswordHash, &o.MustChange, &o.Disabled, &o.CreatedAt); err != nil {
		return account.Organizer{}, err
	}
	o.Role = account.Role(role)
	return o, nil
}

// CreateOrganizer adds an account; an email already used is a conflict.
func (s *Store) CreateOrganizer(ctx context.Context, o account.Organizer) (account.Organizer, error) {
	row := s.pool.QueryRow(ctx, `
		INSERT INTO organizers (email, name, role, password_hash, must_change, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING `+organizerColumns,
		o.Email, o.Name, string(o.Role), o.PasswordHash, o.MustChange, s.now())
	out, err := scanOrganizer(row)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return account.Organizer{}, apperr.Conflict("an account with that email already exists")
	}
	if err != nil {
		return account.Organizer{}, fmt.Errorf("creating organizer: %w", err)
	}
	return out, nil
}

// OrganizerByEmail finds an account by its (lower-cased) email.
func (s *Store) OrganizerByEmail(ctx context.Context, email string) (account.Organizer, error) {
	o, err := scanOrganizer(s.pool.QueryRow(ctx, `SELECT `+organizerColumns+` FROM organizers WHERE email = $1`, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return account.Organizer{}, apperr.NotFound("no such organizer")
	}
	if err != nil {
		return account.Organizer{}, fmt.Errorf("finding organizer: %w", err)
	}
	return o, nil
}

// Organizers lists every account, by email.
func (s *Store) Organizers(ctx context.Context) ([]account.Organizer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+organizerColumns+` FROM organizers ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("listing organizers: %w", err)
	}
	defer rows.Close()
	var out []account.Organizer
	for rows.Next() {
		o, err := scanOrganizer(rows)
		if err != nil {
			return nil, fmt.Errorf("reading organizer: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// HasAdmin reports whether any admin account exists.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organizers WHERE role = 'admin')`).Scan(&ok); err != nil {
		return false, fmt.Errorf("looking for an admin: %w", err)
	}
	return ok, nil
}

// SetPassword replaces an organizer's password hash and ends every other
// session of theirs, keeping the one named by keep (the caller's).
func (s *Store) SetPassword(ctx context.Context, organizerID, hash string, keep []byte) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("changing password: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `UPDATE organizers SET password_hash = $2, must_change = false, updated_at = $3 WHERE id = $1`, organizerID, hash, s.now()); err != nil {
		return fmt.Errorf("changing password: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE organizer_id = $1 AND token_hash <> $2`, organizerID, keep); err != nil {
		return fmt.Errorf("ending other sessions: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("changing password: %w", err)
	}
	return nil
}

// SetOneTimePassword gives an account a password its organizer must
// replace at first sign-in: an invitation that could not be emailed.
func (s *Store) SetOneTimePassword(ctx context.Context, organizerID, hash string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE organizers SET password_hash = $2, must_change = true, updated_at = $3 WHERE id = $1`, organizerID, hash, s.now()); err != nil {
		return fmt.Errorf("setting one-time password: %w", err)
	}
	return nil
}

// Session is a signed-in organizer's session.
type Session struct {
	TokenHash []byte
	CSRF      string
	ExpiresAt time.Time
	Organizer account.Organizer
}

// CreateSession records a session for the token's hash.
func (s *Store) CreateSession(ctx context.Context, tokenHash []byte, organizerID, csrf string, expires time.Time) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO sessions (token_hash, organizer_id, csrf_token, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
		tokenHash, organizerID, csrf, expires, s.now()); err != nil {
		return fmt.Errorf("creating session: %w", err)
	}
	return nil
}

// SessionByHash finds a live session; an unknown or expired one is
// unauthorized.
func (s *Store) SessionByHash(ctx context.Context, tokenHash []byte, now time.Time) (Session, error) {
	row := s.pool.QueryRow(ctx, `
		SELECT s.csrf_token, s.expires_at, o.id, o.email, o.name, o.role, o.password_hash, o.must_change, o.created_at
		FROM sessions s JOIN organizers o ON o.id = s.organizer_id
		WHERE s.token_hash = $1 AND s.expires_at > $2 AND o.disabled_at IS NULL`, tokenHash, now)
	var ses Session
	var role string
	o := &ses.Organizer
	err := row.Scan(&ses.CSRF, &ses.ExpiresAt, &o.ID, &o.Email, &o.Name, &role, &o.PasswordHash, &o.MustChange, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, apperr.Unauthorized("sign in first")
	}
	if err != nil {
		return Session{}, fmt.Errorf("finding session: %w", err)
	}
	o.Role = account.Role(role)
	ses.TokenHash = tokenHash
	return ses, nil
}

// DeleteSession signs a session out.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return fmt.Errorf("ending session: %w", err)
	}
	return nil
}

// ExpireSessions deletes sessions past their end; tests use it to age a
// session, and a sweep keeps the table small.
func (s *Store) ExpireSessions(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("expiring sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// APIToken is an automation credential; the token itself is shown once
// at creation and only its hash is kept.
type APIToken struct {
	ID        string
	Name      string
	Role      account.Role
	CreatedBy string
	// ParentID is the token that made this one, if a token did.
	ParentID   string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// NewAPIToken is what CreateAPIToken records.
type NewAPIToken struct {
	Name string
	Role account.Role
	Hash []byte
	// CreatedBy is the organizer who made it; ParentID the token, when a
	// token made it.
	CreatedBy, ParentID string
	ExpiresAt           time.Time
}

// CreateAPIToken records a token's hash.
func (s *Store) CreateAPIToken(ctx context.Context, n NewAPIToken) (APIToken, error) {
	t := APIToken{Name: n.Name, Role: n.Role, CreatedBy: n.CreatedBy, ParentID: n.ParentID, ExpiresAt: n.ExpiresAt}
	err := s.pool.QueryRow(ctx, `INSERT INTO api_tokens (name, token_hash, role, created_by, parent_id, created_at, expires_at)
		VALUES ($1, $2, $3, nullif($4, '')::uuid, nullif($5, '')::uuid, $6, $7) RETURNING id, created_at`,
		n.Name, n.Hash, string(n.Role), n.CreatedBy, n.ParentID, s.now(), n.ExpiresAt).Scan(&t.ID, &t.CreatedAt)
	if err != nil {
		return APIToken{}, fmt.Errorf("creating api token: %w", err)
	}
	return t, nil
}

const apiTokenColumns = `id, name, role, coalesce(created_by::text, ''), coalesce(parent_id::text, ''), created_at, expires_at, last_used_at, revoked_at`

func scanAPIToken(row pgx.Row) (APIToken, error) {
	var t APIToken
	var role string
	err := row.Scan(&t.ID, &t.Name, &role, &t.CreatedBy, &t.ParentID, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	t.Role = account.Role(role)
	return t, err
}

// APITokenByHash finds a token that is neither revoked nor expired and
// marks it used.
func (s *Store) APITokenByHash(ctx context.Context, hash []byte) (APIToken, error) {
	t, err := scanAPIToken(s.pool.QueryRow(ctx, `
		UPDATE api_tokens SET last_used_at = $2
		WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2
		RETURNING `+apiTokenColumns, hash, s.now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIToken{}, apperr.Unauthorized("unknown, expired or revoked api token")
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("finding api token: %w", err)
	}
	return t, nil
}

// APITokens lists tokens, newest first.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing api tokens: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) { return scanAPIToken(r) })
	if err != nil {
		return nil, fmt.Errorf("reading api tokens: %w", err)
	}
	return list, nil
}

// revokeTokens revokes the tokens an organizer made, or one token, and
// every token made from those, down the line: a token's children hold no
// more than it does, so they end with it.
const revokeTokens = `
	WITH RECURSIVE doomed AS (
		SELECT id FROM api_tokens WHERE id = $1::uuid OR created_by = $2::uuid
		UNION
		SELECT t.id FROM api_tokens t JOIN doomed d ON t.parent_id = d.id)
	UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3)
	WHERE id IN (SELECT id FROM doomed)`

// RevokeAPIToken stops a token, and the tokens made from it, working;
// revoking twice is not an error.
func (s *Store) RevokeAPIToken(ctx context.Context, id string) (string, error) {
	var name string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT name FROM api_tokens WHERE id::text = $1`, id).Scan(&name); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, revokeTokens, id, nil, s.now())
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", apperr.NotFound("no such api token")
	}
	if err != nil {
		return "", fmt.Errorf("revoking api token: %w", err)
	}
	return name, nil
}

// Access is a change to what an organizer may do: a new role, or
// disabling or enabling the account. Nil fields stay as they are.
type Access struct {
	Role     *account.Role
	Disabled *bool
}

// SetAccess changes an organizer's role or disables the account, and in
// the same transaction ends every session of theirs and revokes every
// token they made (and the tokens made from those), so a former organizer
// or one whose role shrank keeps nothing of what they had. Leaving no
// enabled admin is a conflict.
func (s *Store) SetAccess(ctx context.Context, id string, a Access) (account.Organizer, error) {
	var o account.Organizer
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Admin rows first, in id order, so two admins changing each
		// other at once cannot both pass the last-admin check.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM organizers WHERE role = 'admin' ORDER BY id FOR UPDATE`); err != nil {
			return fmt.Errorf("locking admins: %w", err)
		}
		var role *string
		if a.Role != nil {
			r := string(*a.Role)
			role = &r
		}
		var err error
		o, err = scanOrganizer(tx.QueryRow(ctx, `
			UPDATE organizers SET role = coalesce($2, role),
				disabled_at = CASE WHEN $3::boolean IS NULL THEN disabled_at WHEN $3 THEN coalesce(disabled_at, $4) END,
				updated_at = $4
			WHERE id::text = $1 RETURNING `+organizerColumns, id, role, a.Disabled, s.now()))
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.NotFound("no such organizer")
		}
		if err != nil {
			return fmt.Errorf("changing access: %w", err)
		}
		var admins int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM organizers WHERE role = 'admin' AND disabled_at IS NULL`).Scan(&admins); err != nil {
			return fmt.Errorf("counting admins: %w", err)
		}
		if admins == 0 {
			return apperr.Conflict("this would leave no admin who can sign in")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE organizer_id = $1`, o.ID); err != nil {
			return fmt.Errorf("ending sessions: %w", err)
		}
		if _, err := tx.Exec(ctx, revokeTokens, nil, o.ID, s.now()); err != nil {
			return fmt.Errorf("revoking tokens: %w", err)
		}
		return nil
	})
	return o, err
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID      int64
	At      time.Time
	ActorID string
	Actor   string
	Action  string
	Target  string
	Detail  string
}

// Audit appends to the audit log.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_log (actor_id, actor, action, target, detail, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ActorID, e.Actor, e.Action, e.Target, e.Detail, s.now()); err != nil {
		return fmt.Errorf("writing audit log: %w", err)
	}
	return nil
}

// AuditLog lists the newest entries first, up to limit (at most 500).
func (s *Store) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 500
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor_id, actor, action, target, detail FROM audit_log ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("reading audit log: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("reading audit entry: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AuditOf lists the newest entries about one target ("contact 1f…"),
// up to limit (at most 100): a member's page shows who changed what.
func (s *Store) AuditOf(ctx context.Context, target string, limit int) ([]AuditEntry, error) {
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor_id, actor, action, target, detail FROM audit_log WHERE target = $1 ORDER BY id DESC LIMIT $2`, target, limit)
	if err != nil {
		return nil, fmt.Errorf("reading audit log of %s: %w", target, err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.Detail); err != nil {
			return nil, fmt.Errorf("reading audit entry: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
