package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/outbox"
)

// SourceErasure is the source of the opt-out an erasure records, and of
// the opt-out a re-added address takes over from it. It is the member's
// side (consent.MemberSource): only the member can lift it.
const SourceErasure = "erasure"

// Erased is what Erase did.
type Erased struct {
	ContactID string    `json:"contact_id"`
	ErasedBy  string    `json:"erased_by"`
	ErasedAt  time.Time `json:"erased_at"`
	// Already is true when the contact had been erased before: nothing
	// was done again.
	Already bool `json:"already"`
}

// Erase removes a member's personal data from contacts in one
// transaction and queues contact.erased for campaigns and delivery:
//
//   - the contact row, its ratings, assignments and import issues;
//   - their rhythm choices (kept by address);
//   - on the consent ledger, each address is replaced by its keyed hash
//     and the address and name are blanked out of the evidence, so the
//     record of every opt-out stays, with no personal data;
//   - an opt-out with source "erasure" is recorded for each address (on
//     its hash): an erased member is never texted or emailed again, and an
//     import or edit that adds the address again finds it opted out.
//
// by says who erased (an organizer's id, "operator"); it is kept in the
// erasures table with the time. Erasing an erased contact reports Already.
func (s *Store) Erase(ctx context.Context, id, by string) (Erased, error) {
	if !s.erasure.Set() {
		return Erased{}, erasure.ErrNoKey
	}
	by = strings.TrimSpace(by)
	if by == "" || len(by) > 200 {
		return Erased{}, apperr.Invalid("by", "name who is erasing (up to 200 bytes)")
	}
	now := s.now().UTC()
	out := Erased{ContactID: id, ErasedBy: by, ErasedAt: now}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := get(ctx, tx, id, "FOR UPDATE")
		if apperr.KindOf(err) == apperr.KindNotFound {
			err2 := tx.QueryRow(ctx, `SELECT erased_by, erased_at FROM erasures WHERE contact_id = $1::uuid`, id).Scan(&out.ErasedBy, &out.ErasedAt)
			if err2 == nil {
				out.Already = true
				return nil
			}
			if !errors.Is(err2, pgx.ErrNoRows) {
				return fmt.Errorf("reading erasures: %w", err2)
			}
		}
		if err != nil {
			return err
		}
		ev := events.ContactErased{
			Meta:      events.NewMeta(events.TypeContactErased, events.VersionContactErased, "", now),
			ContactID: c.ID, ErasedBy: by, At: now,
		}
		pattern := scrubPattern(c)
		for _, a := range addressesOf(c) {
			ev.Addresses = append(ev.Addresses, a)
			if err := s.eraseAddress(ctx, tx, a, pattern, by, now); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM import_issues WHERE contact_id = $1::uuid OR ($2 <> '' AND reason ~* $2)`, c.ID, pattern); err != nil {
			return fmt.Errorf("erasing contact %s from import reports: %w", c.ID, err)
		}
		for _, q := range []string{
			`DELETE FROM contact_assignments WHERE contact_id = $1::uuid`,
			`DELETE FROM contacts WHERE id = $1::uuid`, // ratings go with it (ON DELETE CASCADE)
		} {
			if _, err := tx.Exec(ctx, q, c.ID); err != nil {
				return fmt.Errorf("erasing contact %s: %w", c.ID, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO erasures (contact_id, erased_by, erased_at, event_id) VALUES ($1::uuid, $2, $3, $4)`,
			c.ID, by, now, ev.ID); err != nil {
			return fmt.Errorf("recording the erasure of %s: %w", c.ID, err)
		}
		return outbox.Add(ctx, tx, now, events.SubjectContactErased, ev.ID, ev)
	})
	if err != nil {
		return Erased{}, err
	}
	return out, nil
}

// eraseAddress replaces one address by its hash on the ledger and in the
// current consent, deletes the member's rhythm for it and records the
// erasure's opt-out.
func (s *Store) eraseAddress(ctx context.Context, tx pgx.Tx, a events.ErasedAddress, pattern, by string, now time.Time) error {
	h, _ := s.erasure.Hash(a.Channel, a.Address)
	if _, err := tx.Exec(ctx, lockAddress, string(a.Channel), a.Address); err != nil {
		return fmt.Errorf("locking consent address: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE consent_ledger SET address = $3,
			evidence = CASE WHEN $4 = '' THEN evidence ELSE regexp_replace(evidence, $4, '[erased]', 'gi') END,
			reason = CASE WHEN $4 = '' THEN reason ELSE regexp_replace(reason, $4, '[erased]', 'gi') END
			WHERE channel = $1 AND address = $2`, string(a.Channel), a.Address, h, pattern); err != nil {
		return fmt.Errorf("hashing an erased address on the ledger: %w", err)
	}
	for _, table := range []string{"consent", "member_rhythm", "member_rhythm_history"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE channel = $1 AND address = $2`, string(a.Channel), a.Address); err != nil {
			return fmt.Errorf("erasing an address from %s: %w", table, err)
		}
	}
	_, err := applyConsent(ctx, tx, events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", now),
		Channel: a.Channel, Address: h, Change: events.ConsentOptedOut, Source: SourceErasure,
		Evidence: "member erased by " + by, At: now,
	}, now)
	return err
}

func addressesOf(c contact.Contact) []events.ErasedAddress {
	var out []events.ErasedAddress
	if c.Phone != "" {
		out = append(out, events.ErasedAddress{Channel: events.ChannelSMS, Address: string(c.Phone)})
	}
	if c.Email != "" {
		out = append(out, events.ErasedAddress{Channel: events.ChannelEmail, Address: string(c.Email)})
	}
	return out
}

// scrubPattern matches the member's personal data in free text (consent
// evidence, import reports): their addresses, the phone number's digits
// as a provider writes them, and their name. Names shorter than 3 letters
// are left alone: they would blank common words.
func scrubPattern(c contact.Contact) string {
	var terms []string
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= 3 {
			terms = append(terms, regexp.QuoteMeta(s))
		}
	}
	add(string(c.Phone))
	add(strings.TrimPrefix(string(c.Phone), "+"))
	add(string(c.Email))
	add(strings.TrimSpace(c.FirstName + " " + c.LastName))
	add(c.FirstName)
	add(c.LastName)
	return strings.Join(terms, "|")
}

// carryErasedOptOuts gives an address that was an erased member's, and
// is added again (an import, a new contact, an edit), the opt-out the
// erasure left on its hash: the ledger gets an entry saying so, with no
// more personal data than the address itself, and the address's state
// is settled from it. how says what added the address.
func (s *Store) carryErasedOptOuts(ctx context.Context, tx pgx.Tx, addrs []events.ErasedAddress, how string) error {
	if !s.erasure.Set() || len(addrs) == 0 {
		return nil
	}
	channels, plain, hashes := make([]string, 0, len(addrs)), make([]string, 0, len(addrs)), make([]string, 0, len(addrs))
	for _, a := range addrs {
		if h, ok := s.erasure.Hash(a.Channel, a.Address); ok {
			channels, plain, hashes = append(channels, string(a.Channel)), append(plain, a.Address), append(hashes, h)
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT u.ch, u.addr, c.changed_at FROM unnest($1::text[], $2::text[], $3::text[]) AS u(ch, addr, h)
		JOIN consent c ON c.channel = u.ch AND c.address = u.h AND c.status = 'opted_out'
		WHERE NOT EXISTS (SELECT 1 FROM consent_ledger l WHERE l.channel = u.ch AND l.address = u.addr AND l.source = $4)`, channels, plain, hashes, SourceErasure)
	if err != nil {
		return fmt.Errorf("looking for erased addresses: %w", err)
	}
	type found struct {
		ch   events.Channel
		addr string
		at   time.Time
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (found, error) {
		var f found
		var ch string
		err := r.Scan(&ch, &f.addr, &f.at)
		f.ch = events.Channel(ch)
		return f, err
	})
	if err != nil {
		return fmt.Errorf("looking for erased addresses: %w", err)
	}
	now := s.now().UTC()
	for _, f := range list {
		ev := events.ConsentChanged{
			Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", now),
			Channel: f.ch, Address: f.addr, Change: events.ConsentOptedOut, Source: SourceErasure,
			Evidence: "this address was opted out when its member was erased (" + f.at.UTC().Format(time.RFC3339) + "); added again by " + how,
			At:       f.at,
		}
		if _, err := applyConsent(ctx, tx, ev, now); err != nil {
			return err
		}
	}
	return nil
}
