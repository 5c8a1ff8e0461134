package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/outbox"
)

// lockAddress serializes consent changes to one address, so two changes
// applied at once each see the other's ledger entry when they settle the
// state. Locks are always taken in hash order, so batches cannot deadlock.
const lockAddress = `SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 7))`

// ApplyConsent records a consent event in the ledger once (by event id)
// and settles the address's current state from the ledger by
// consent.Standing, so the same events give the same state however
// often and in whatever order they arrive. It reports whether the event
// was new.
func (s *Store) ApplyConsent(ctx context.Context, ev events.ConsentChanged) (applied bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		applied, err = applyConsent(ctx, tx, ev, s.now())
		return err
	})
	return applied, err
}

// applyConsent records ev in the ledger at recordedAt (the store's clock)
// and settles the address's state.
func applyConsent(ctx context.Context, tx pgx.Tx, ev events.ConsentChanged, recordedAt time.Time) (bool, error) {
	at := ev.At
	if at.IsZero() {
		at = ev.OccurredAt
	}
	if _, err := tx.Exec(ctx, lockAddress, string(ev.Channel), ev.Address); err != nil {
		return false, fmt.Errorf("locking consent address: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO consent_ledger (event_id, channel, address, change, source, evidence, reason, occurred_at, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING`,
		ev.ID, string(ev.Channel), ev.Address, ev.Change, ev.Source, ev.Evidence, ev.Reason, at, recordedAt)
	if err != nil {
		return false, fmt.Errorf("recording consent event: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil // seen before: applied exactly once
	}
	if _, err := settle(ctx, tx, ev.Channel, ev.Address); err != nil {
		return false, err
	}
	return true, nil
}

// latestConsent reads the newest member-side and union-side ledger
// entries of an address.
func latestConsent(ctx context.Context, tx pgx.Tx, ch events.Channel, address string) (member, union *consent.Event, err error) {
	// The union's "subscribed" entries are opt-in evidence (an import row,
	// an API call): they record how an address came in and change nothing.
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT ON (source = ANY($3)) change, source, occurred_at
		FROM consent_ledger WHERE channel = $1 AND address = $2
			AND NOT (source = ANY($3) AND change = $4)
		ORDER BY source = ANY($3), occurred_at DESC, id DESC`, string(ch), address, consent.UnionSources(), events.ConsentSubscribed)
	if err != nil {
		return nil, nil, fmt.Errorf("reading consent ledger: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (consent.Event, error) {
		var e consent.Event
		err := r.Scan(&e.Change, &e.Source, &e.At)
		return e, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading consent ledger: %w", err)
	}
	for i := range list {
		if consent.MemberSource(list[i].Source) {
			member = &list[i]
		} else {
			union = &list[i]
		}
	}
	return member, union, nil
}

// settle recomputes an address's current consent from its ledger.
func settle(ctx context.Context, tx pgx.Tx, ch events.Channel, address string) (string, error) {
	member, union, err := latestConsent(ctx, tx, ch, address)
	if err != nil {
		return "", err
	}
	status, by := consent.Standing(member, union)
	if by == nil {
		return status, nil
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO consent (channel, address, status, source, changed_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (channel, address) DO UPDATE
		SET status = excluded.status, source = excluded.source, changed_at = excluded.changed_at`,
		string(ch), address, status, by.Source, by.At)
	if err != nil {
		return "", fmt.Errorf("updating consent state: %w", err)
	}
	return status, nil
}

// OrganizerOptOut records an organizer's opt-out of an address in the
// ledger, settles the state, and queues the event for delivery in the same
// transaction. It returns the address's state afterwards.
func (s *Store) OrganizerOptOut(ctx context.Context, ev events.ConsentChanged) (string, error) {
	var status string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := applyConsent(ctx, tx, ev, s.now()); err != nil {
			return err
		}
		var err error
		if status, err = currentStatus(ctx, tx, ev.Channel, ev.Address); err != nil {
			return err
		}
		return enqueue(ctx, tx, ev, s.now())
	})
	return status, err
}

// OrganizerOptIn lifts an opt-out an organizer or an import made. It is a
// conflict when the standing opt-out is the member's own (a STOP, a bounce,
// a spam report): only the member can lift that. For an address that is
// not opted out it records nothing and reports false.
func (s *Store) OrganizerOptIn(ctx context.Context, ev events.ConsentChanged) (bool, error) {
	changed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, lockAddress, string(ev.Channel), ev.Address); err != nil {
			return fmt.Errorf("locking consent address: %w", err)
		}
		member, union, err := latestConsent(ctx, tx, ev.Channel, ev.Address)
		if err != nil {
			return err
		}
		status, by := consent.Standing(member, union)
		if status != consent.OptedOut {
			return nil
		}
		if !consent.MayLift(by.Source, ev.Source) {
			return apperr.Conflict("the member opted out of %s themselves (%s, %s): only the member can opt back in, for example by texting START",
				ev.Channel, by.Source, by.At.UTC().Format(time.RFC3339))
		}
		if _, err := applyConsent(ctx, tx, ev, s.now()); err != nil {
			return err
		}
		changed = true
		return enqueue(ctx, tx, ev, s.now())
	})
	return changed, err
}

func currentStatus(ctx context.Context, tx pgx.Tx, ch events.Channel, address string) (string, error) {
	var status string
	err := tx.QueryRow(ctx, `SELECT status FROM consent WHERE channel = $1 AND address = $2`, string(ch), address).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.Subscribed, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading consent: %w", err)
	}
	return status, nil
}

// enqueue writes an event to the outbox for the relay to publish.
func enqueue(ctx context.Context, tx pgx.Tx, ev events.ConsentChanged, now time.Time) error {
	return outbox.Add(ctx, tx, now, events.SubjectConsentChanged, ev.ID, ev)
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
	RecordedAt time.Time `json:"recorded_at"`
}

// ConsentHistory returns the ledger for a contact's addresses, oldest first.
func (s *Store) ConsentHistory(ctx context.Context, c contact.Contact) ([]ConsentEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT event_id, channel, address, change, source, evidence, reason, occurred_at, recorded_at
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

// ConsentState is an address's current consent on a channel.
type ConsentState struct {
	Channel   string     `json:"channel"`
	Address   string     `json:"address"`
	Status    string     `json:"status"`
	Source    string     `json:"source,omitempty"`
	ChangedAt *time.Time `json:"changed_at,omitempty"`
}

// ConsentStates returns the current state of a contact's addresses.
func (s *Store) ConsentStates(ctx context.Context, c contact.Contact) ([]ConsentState, error) {
	var out []ConsentState
	for _, a := range []struct {
		ch   events.Channel
		addr string
	}{{events.ChannelSMS, string(c.Phone)}, {events.ChannelEmail, string(c.Email)}} {
		if a.addr == "" {
			continue
		}
		st := ConsentState{Channel: string(a.ch), Address: a.addr, Status: consent.Subscribed}
		var at time.Time
		err := s.pool.QueryRow(ctx, `SELECT status, source, changed_at FROM consent WHERE channel = $1 AND address = $2`,
			string(a.ch), a.addr).Scan(&st.Status, &st.Source, &at)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return nil, fmt.Errorf("reading consent: %w", err)
		default:
			st.ChangedAt = &at
		}
		out = append(out, st)
	}
	return out, nil
}

// ConsentStatus is the current state of an address on a channel:
// "subscribed" unless an opt-out stands.
func (s *Store) ConsentStatus(ctx context.Context, ch events.Channel, address string) (string, error) {
	var status string
	err := s.pool.QueryRow(ctx, `SELECT status FROM consent WHERE channel = $1 AND address = $2`, string(ch), address).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return consent.Subscribed, nil
	}
	if err != nil {
		return "", fmt.Errorf("reading consent: %w", err)
	}
	return status, nil
}

// EachConsentEntry streams the whole ledger in the order it was recorded,
// for a legal request's CSV, holding one entry in memory at a time.
func (s *Store) EachConsentEntry(ctx context.Context, fn func(ConsentEntry) error) error {
	opts := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	return pgx.BeginTxFunc(ctx, s.pool, opts, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT event_id, channel, address, change, source, evidence, reason, occurred_at, recorded_at
			FROM consent_ledger ORDER BY id`)
		if err != nil {
			return fmt.Errorf("exporting consent ledger: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e ConsentEntry
			if err := rows.Scan(&e.EventID, &e.Channel, &e.Address, &e.Change, &e.Source, &e.Evidence, &e.Reason, &e.OccurredAt, &e.RecordedAt); err != nil {
				return fmt.Errorf("reading consent entry: %w", err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("exporting consent ledger: %w", err)
		}
		return nil
	})
}
