package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/events"
)

// Rhythm is a member's own choice of when and how often texts reach them,
// as delivery last announced it for one address. Delivery enforces it;
// contacts keeps it to show organizers.
type Rhythm struct {
	Channel string `json:"channel"`
	Address string `json:"address"`
	// Window is "16:00-21:00" in the member's local time; empty is the
	// organization's hours.
	Window      string     `json:"window"`
	PausedUntil *time.Time `json:"paused_until"`
	// FewerTexts is LESS: at most one text in any 7 days.
	FewerTexts bool   `json:"fewer_texts"`
	Language   string `json:"language"`
	// Channels is sms, email or both; empty when never chosen.
	Channels  string    `json:"channels"`
	ChangedAt time.Time `json:"changed_at"`
}

// RhythmEntry is one change of a member's rhythm, with where it came from.
type RhythmEntry struct {
	EventID string `json:"event_id"`
	Channel string `json:"channel"`
	Address string `json:"address"`
	// Change is nights, days, pause, resume, less, more, language,
	// channels, or web_form for the preferences page.
	Change string `json:"change"`
	// Source is inbound_sms (Evidence holds the keyword and message SID)
	// or web_form (Evidence holds what the page saved).
	Source      string     `json:"source"`
	Evidence    string     `json:"evidence"`
	Window      string     `json:"window"`
	PausedUntil *time.Time `json:"paused_until"`
	FewerTexts  bool       `json:"fewer_texts"`
	Language    string     `json:"language"`
	Channels    string     `json:"channels"`
	OccurredAt  time.Time  `json:"occurred_at"`
	RecordedAt  time.Time  `json:"recorded_at"`
}

// ApplyRhythm records a rhythm change once (by event id) in the history
// and makes it the address's current rhythm unless a newer change is
// already there, so replayed and reordered events settle to the same
// state. It never touches the consent ledger: a NIGHTS is not an opt-out.
// It reports whether the event was new.
func (s *Store) ApplyRhythm(ctx context.Context, ev events.RhythmChanged) (applied bool, err error) {
	at := ev.At
	if at.IsZero() {
		at = ev.OccurredAt
	}
	recorded := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO member_rhythm_history (event_id, channel, address, change, source, evidence,
				time_window, paused_until, less, language, channels, occurred_at, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (event_id) DO NOTHING`,
			ev.ID, string(ev.Channel), ev.Address, ev.Change, ev.Source, ev.Evidence,
			ev.Window, ev.PausedUntil, ev.Less, ev.Language, ev.Channels, at, recorded)
		if err != nil {
			return fmt.Errorf("recording rhythm change: %w", err)
		}
		if applied = tag.RowsAffected() == 1; !applied {
			return nil
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO member_rhythm (channel, address, time_window, paused_until, less, language, channels,
				event_id, changed_at, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (channel, address) DO UPDATE SET time_window = EXCLUDED.time_window,
				paused_until = EXCLUDED.paused_until, less = EXCLUDED.less, language = EXCLUDED.language,
				channels = EXCLUDED.channels, event_id = EXCLUDED.event_id, changed_at = EXCLUDED.changed_at,
				recorded_at = EXCLUDED.recorded_at
			WHERE (member_rhythm.changed_at, member_rhythm.event_id) < (EXCLUDED.changed_at, EXCLUDED.event_id)`,
			string(ev.Channel), ev.Address, ev.Window, ev.PausedUntil, ev.Less, ev.Language, ev.Channels,
			ev.ID, at, recorded)
		if err != nil {
			return fmt.Errorf("settling rhythm: %w", err)
		}
		return nil
	})
	return applied, err
}

// Rhythms returns the current rhythm of a contact's addresses (those that
// ever changed it: a member who never did follows the organization) and
// the history of their changes, oldest first. Both are read from one
// snapshot: read apart, a change committed between the two reads showed
// in the history but not in the current rhythm.
func (s *Store) Rhythms(ctx context.Context, c contact.Contact) (current []Rhythm, history []RhythmEntry, err error) {
	phone, email := string(c.Phone), string(c.Email)
	snapshot := pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	err = pgx.BeginTxFunc(ctx, s.pool, snapshot, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT channel, address, time_window, paused_until, less, language, channels, changed_at
			FROM member_rhythm
			WHERE (channel = 'sms' AND address = $1) OR (channel = 'email' AND address = $2)
			ORDER BY channel DESC`, phone, email)
		if err != nil {
			return fmt.Errorf("reading rhythm: %w", err)
		}
		if current, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Rhythm]); err != nil {
			return fmt.Errorf("reading rhythm: %w", err)
		}
		rows, err = tx.Query(ctx, `
			SELECT event_id, channel, address, change, source, evidence, time_window, paused_until, less,
				language, channels, occurred_at, recorded_at
			FROM member_rhythm_history
			WHERE (channel = 'sms' AND address = $1) OR (channel = 'email' AND address = $2)
			ORDER BY occurred_at, id`, phone, email)
		if err != nil {
			return fmt.Errorf("reading rhythm history: %w", err)
		}
		if history, err = pgx.CollectRows(rows, pgx.RowToStructByPos[RhythmEntry]); err != nil {
			return fmt.Errorf("reading rhythm history: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return current, history, nil
}
