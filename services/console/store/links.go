package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/shared/apperr"
)

// SetupDone reports whether an admin has finished first-run setup.
func (s *Store) SetupDone(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM setup)`).Scan(&ok); err != nil {
		return false, fmt.Errorf("reading setup: %w", err)
	}
	return ok, nil
}

// MarkSetupDone records first-run setup as finished by by; finishing it
// again keeps the first record.
func (s *Store) MarkSetupDone(ctx context.Context, by string) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO setup (done_at, done_by) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, s.now(), by); err != nil {
		return fmt.Errorf("recording setup: %w", err)
	}
	return nil
}

// NewAccountLink is an emailed link to record: its token's hash, whose
// account it opens and for what, who asked and when it ends.
type NewAccountLink struct {
	Hash        []byte
	OrganizerID string
	Purpose     account.LinkPurpose
	CreatedBy   string
	ExpiresAt   time.Time
}

// CreateAccountLink records a link, ending the organizer's earlier unused
// links of the same purpose: only the newest email works.
func (s *Store) CreateAccountLink(ctx context.Context, l NewAccountLink) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		if _, err := tx.Exec(ctx, `UPDATE account_links SET used_at = $3 WHERE organizer_id = $1 AND purpose = $2 AND used_at IS NULL`,
			l.OrganizerID, string(l.Purpose), now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO account_links (token_hash, organizer_id, purpose, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			l.Hash, l.OrganizerID, string(l.Purpose), l.CreatedBy, now, l.ExpiresAt)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording account link: %w", err)
	}
	return nil
}

// EndAccountLinks ends every unused link of an organizer: an invitation
// whose email could not be sent, before a one-time password replaces it.
func (s *Store) EndAccountLinks(ctx context.Context, organizerID string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE account_links SET used_at = $2 WHERE organizer_id = $1 AND used_at IS NULL`, organizerID, s.now()); err != nil {
		return fmt.Errorf("ending account links: %w", err)
	}
	return nil
}

// AccountLink is a live link: what it is for and whose account it opens.
type AccountLink struct {
	Purpose   account.LinkPurpose
	ExpiresAt time.Time
	Organizer account.Organizer
}

// errDeadLink is the one answer to a link that is unknown, used, expired
// or for a disabled account: the page does not say which.
var errDeadLink = apperr.NotFound("this link has expired or was already used")

// AccountLinkByHash finds a live link: unused, not expired, for an
// enabled account. Anything else is not found.
func (s *Store) AccountLinkByHash(ctx context.Context, hash []byte) (AccountLink, error) {
	var l AccountLink
	var purpose string
	row := s.pool.QueryRow(ctx, `
		SELECT l.purpose, l.expires_at, o.id, o.email, o.name, o.role, o.password_hash, o.must_change, o.disabled_at IS NOT NULL, o.created_at
		FROM account_links l JOIN organizers o ON o.id = l.organizer_id
		WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2 AND o.disabled_at IS NULL`, hash, s.now())
	o := &l.Organizer
	var role string
	err := row.Scan(&purpose, &l.ExpiresAt, &o.ID, &o.Email, &o.Name, &role, &o.PasswordHash, &o.MustChange, &o.Disabled, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return AccountLink{}, errDeadLink
	}
	if err != nil {
		return AccountLink{}, fmt.Errorf("finding account link: %w", err)
	}
	o.Role, l.Purpose = account.Role(role), account.LinkPurpose(purpose)
	return l, nil
}

// UseAccountLink spends a live link on a new password, in one
// transaction: the link and every other unused link of the account end,
// the password is replaced, and every session of the account ends (a
// reset locks out whoever had the old password). A link that is not live
// is not found, and changes nothing.
func (s *Store) UseAccountLink(ctx context.Context, hash []byte, passwordHash string) (AccountLink, error) {
	var l AccountLink
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		var id, purpose string
		err := tx.QueryRow(ctx, `
			UPDATE account_links l SET used_at = $2
			FROM organizers o
			WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > $2
				AND o.id = l.organizer_id AND o.disabled_at IS NULL
			RETURNING l.organizer_id::text, l.purpose, l.expires_at`, hash, now).Scan(&id, &purpose, &l.ExpiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return errDeadLink
		}
		if err != nil {
			return fmt.Errorf("spending account link: %w", err)
		}
		l.Purpose = account.LinkPurpose(purpose)
		if l.Organizer, err = scanOrganizer(tx.QueryRow(ctx, `
			UPDATE organizers SET password_hash = $2, must_change = false, updated_at = $3
			WHERE id = $1 RETURNING `+organizerColumns, id, passwordHash, now)); err != nil {
			return fmt.Errorf("setting password: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE account_links SET used_at = $2 WHERE organizer_id = $1 AND used_at IS NULL`, id, now); err != nil {
			return fmt.Errorf("ending other links: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE organizer_id = $1`, id); err != nil {
			return fmt.Errorf("ending sessions: %w", err)
		}
		return nil
	})
	return l, err
}
