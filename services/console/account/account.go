// Package account holds the console's domain: organizers, their roles,
// passwords and the random secrets behind sessions, CSRF and API tokens.
// It imports no database, HTTP or logging package.
package account

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/musterhq/muster/shared/apperr"
)

// Role is what an organizer or an API token may do. Admin, organizer and
// viewer are ordered: an admin may do all an organizer may, an organizer
// all a viewer may. A steward stands aside: they may do only what a route
// opens to stewards (RoleSteward as the need), and there they see only
// the members assigned to them; organizers and admins may do all of it
// too, for everyone's members; viewers none of it.
type Role string

// The roles, from most to least trusted.
const (
	RoleAdmin     Role = "admin"
	RoleOrganizer Role = "organizer"
	RoleSteward   Role = "steward"
	RoleViewer    Role = "viewer"
)

// Roles lists every role, most trusted first, for forms.
func Roles() []Role { return []Role{RoleAdmin, RoleOrganizer, RoleSteward, RoleViewer} }

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.TrimSpace(s)); r {
	case RoleAdmin, RoleOrganizer, RoleSteward, RoleViewer:
		return r, nil
	default:
		return "", apperr.Invalid("role", "want admin, organizer, steward or viewer, got %q", s)
	}
}

// Assignable reports whether members may be assigned to an account of
// this role: organizers and stewards (and admins, who organize too).
func (r Role) Assignable() bool { return r == RoleAdmin || r == RoleOrganizer || r == RoleSteward }

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleOrganizer:
		return 2
	case RoleViewer:
		return 1
	default:
		return 0
	}
}

// Allows reports whether r may do what needs the role need. A steward is
// allowed only what needs a steward; what needs a steward, organizers and
// admins are allowed too.
func (r Role) Allows(need Role) bool {
	if need == RoleSteward {
		return r == RoleSteward || r.Allows(RoleOrganizer)
	}
	return r.rank() >= need.rank() && need.rank() > 0
}

// Organizer is a person who signs in to the console.
type Organizer struct {
	ID    string
	Email string
	Name  string
	Role  Role
	// PasswordHash is a bcrypt hash; the password itself is never kept.
	PasswordHash string
	// MustChange marks an invited account still on its one-time password.
	MustChange bool
	// Disabled accounts cannot sign in, and have no sessions or tokens.
	Disabled  bool
	CreatedAt time.Time
}

// Label is how the organizer is named in the audit log and the UI.
func (o Organizer) Label() string {
	if o.Name != "" {
		return o.Name + " <" + o.Email + ">"
	}
	return o.Email
}

// ParseEmail lower-cases and checks an email address.
func ParseEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", apperr.Invalid("email", "is not an email address")
	}
	return s, nil
}

// MinPasswordLength is the shortest password accepted. Length matters
// more than character classes, so none are demanded.
const MinPasswordLength = 12

// maxPasswordLength is bcrypt's limit: it ignores bytes past 72.
const maxPasswordLength = 72

// CheckNewPassword refuses a password too short or too long to keep.
func CheckNewPassword(p string) error {
	if len(p) < MinPasswordLength {
		return apperr.Invalid("password", "must be at least %d characters", MinPasswordLength)
	}
	if len(p) > maxPasswordLength {
		return apperr.Invalid("password", "must be at most %d bytes", maxPasswordLength)
	}
	return nil
}

// HashPassword hashes a password for storage.
func HashPassword(p string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

// dummyHash is compared against when no account has the email given, so
// a wrong email costs the same time as a wrong password. It is the hash
// of 24 random bytes nobody kept, at bcrypt.DefaultCost.
const dummyHash = "$2a$10$tIVHkFDgji7Bl1Zst5AMi.HtM1hFAPBYqDwT9qnLOybVVkfyGyv1u"

// PasswordMatches reports whether p is the password hashed in hash. An
// empty hash (no such account) still spends a bcrypt comparison.
func PasswordMatches(hash, p string) bool {
	if hash == "" {
		_ = bcrypt.CompareHashAndPassword([]byte(dummyHash), []byte(p))
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(p)) == nil
}

// NewSecret returns 32 random bytes, URL-safe base64 encoded: session
// tokens, CSRF tokens, API tokens and one-time passwords.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenPrefix starts every API token, so a leaked one is easy to spot in
// logs and secret scanners.
const TokenPrefix = "mst_"

// NewAPIToken returns a fresh API token.
func NewAPIToken() string { return TokenPrefix + NewSecret() }

// HashSecret is how session and API tokens are stored and looked up.
// They are random and long, so a fast hash is enough.
func HashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// SecretsEqual compares two secrets in constant time.
func SecretsEqual(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// LinkPurpose is what an emailed account link is for.
type LinkPurpose string

// The account links: an invitation's first password, or a reset.
const (
	LinkInvite LinkPurpose = "invite"
	LinkReset  LinkPurpose = "reset"
)

// Link lifetimes: an invitation waits three days for its organizer; a
// reset is asked for by someone at the screen, so it is short.
const (
	InviteTTL = 72 * time.Hour
	ResetTTL  = time.Hour
)

// TTL is how long a link of the purpose works.
func (p LinkPurpose) TTL() time.Duration {
	if p == LinkInvite {
		return InviteTTL
	}
	return ResetTTL
}
