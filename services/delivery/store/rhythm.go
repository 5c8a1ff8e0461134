package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/outbox"
	"github.com/musterhq/muster/shared/postgres"
)

// Rhythm is a member's own choice of when and how often to be reached,
// kept per address (an E.164 number, or an email address for the channel
// choice). The zero Rhythm is the organization's defaults.
type Rhythm struct {
	Address string `json:"address"`
	Channel string `json:"channel"`
	// Window is nil for the organization's window.
	Window *quiet.Window `json:"-"`
	// PausedUntil is nil when texts are not paused.
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	// Less is at most one text in any 7 days.
	Less     bool   `json:"less"`
	Language string `json:"language,omitempty"`
	// Channels is sms, email or both.
	Channels  string    `json:"channels"`
	UpdatedAt time.Time `json:"updated_at"`
	// ChoseHours is whether the member ever chose their hours (NIGHTS,
	// DAYS or the preferences page), so a shift-aware default no longer
	// applies to them. Only Rhythms, the send path's read, fills it.
	ChoseHours bool `json:"-"`
}

// WindowText is the member's window as "16:00-21:00", empty for the
// organization's.
func (r Rhythm) WindowText() string {
	if r.Window == nil {
		return ""
	}
	return r.Window.String()
}

// rhythmRecord is how a rhythm is kept in the history's before and after.
type rhythmRecord struct {
	Window      string     `json:"window,omitempty"`
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	Less        bool       `json:"less"`
	Language    string     `json:"language,omitempty"`
	Channels    string     `json:"channels"`
}

func (r Rhythm) record() rhythmRecord {
	return rhythmRecord{Window: r.WindowText(), PausedUntil: r.PausedUntil, Less: r.Less, Language: r.Language, Channels: r.Channels}
}

// Paused reports whether texts are paused at now.
func (r Rhythm) Paused(now time.Time) bool { return r.PausedUntil != nil && r.PausedUntil.After(now) }

func minutes(d time.Duration) int16 { return int16(d / time.Minute) }

// hoursChanges are the history's changes by which a member chose their
// hours: after one, a shift-aware default no longer applies to them.
var hoursChanges = []string{"nights", "days", "web_form"}

const rhythmColumns = `address, channel, window_start, window_end, paused_until, less, language, channels, updated_at`

func scanRhythm(row pgx.Row) (Rhythm, error) {
	var r Rhythm
	var start, end *int16
	if err := row.Scan(&r.Address, &r.Channel, &start, &end, &r.PausedUntil, &r.Less, &r.Language, &r.Channels, &r.UpdatedAt); err != nil {
		return Rhythm{}, err
	}
	if start != nil && end != nil {
		r.Window = &quiet.Window{Start: time.Duration(*start) * time.Minute, End: time.Duration(*end) * time.Minute}
	}
	return r, nil
}

// Rhythm reads an address's rhythm; found is false when the member never
// chose one (the organization's defaults apply).
func (s *Store) Rhythm(ctx context.Context, address string) (Rhythm, bool, error) {
	r, err := scanRhythm(s.pool.QueryRow(ctx, `SELECT `+rhythmColumns+` FROM member_rhythm WHERE address = $1`, address))
	if errors.Is(err, pgx.ErrNoRows) {
		return Rhythm{Address: address, Channels: "both"}, false, nil
	}
	if err != nil {
		return Rhythm{}, false, fmt.Errorf("reading rhythm: %w", err)
	}
	return r, true, nil
}

// Rhythms reads the rhythms of many addresses in one statement (the send
// worker asks for a batch of texts at once); an address that never chose
// one is missing from the map.
func (s *Store) Rhythms(ctx context.Context, addresses []string) (map[string]Rhythm, error) {
	// Whether the member chose their hours is read from the history (by
	// its address index), so the rhythm's own row and what writes it stay
	// as they are; only members who ever changed their rhythm have rows.
	// Each batch is planned for itself (postgres.Replan): every plan kept
	// for any batch read all the rhythms members had chosen.
	rows, err := s.pool.Query(ctx, `SELECT `+rhythmColumns+`, EXISTS (SELECT 1 FROM member_rhythm_history h
			WHERE h.address = member_rhythm.address AND h.change = ANY($2))
		FROM member_rhythm WHERE address = ANY($1)`, postgres.Replan, addresses, hoursChanges)
	if err != nil {
		return nil, fmt.Errorf("reading rhythms: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Rhythm, error) {
		var x Rhythm
		var start, end *int16
		if err := r.Scan(&x.Address, &x.Channel, &start, &end, &x.PausedUntil, &x.Less, &x.Language, &x.Channels, &x.UpdatedAt, &x.ChoseHours); err != nil {
			return Rhythm{}, err
		}
		if start != nil && end != nil {
			x.Window = &quiet.Window{Start: time.Duration(*start) * time.Minute, End: time.Duration(*end) * time.Minute}
		}
		return x, nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading rhythms: %w", err)
	}
	out := make(map[string]Rhythm, len(list))
	for _, r := range list {
		out[r.Address] = r
	}
	return out, nil
}

// RhythmChange is one change a member makes to their rhythm.
type RhythmChange struct {
	Address string
	// Channel is the kind of address: sms or email.
	Channel string
	// Change names what the member asked (nights, pause, web_form...).
	Change string
	// Source is events.SourceInboundSMS or events.SourceWebForm.
	Source string
	// MessageSID is the text's provider id for a keyword: the change is
	// made once per SID, and a replay gets the first reply back.
	MessageSID string
	Evidence   string
	// Apply changes the member's current rhythm (the defaults when they
	// have none yet); an error changes nothing and is returned.
	Apply func(r *Rhythm) error
	// Reply is the confirmation for the rhythm as it now stands; it is
	// kept with the change, for a replay.
	Reply func(r Rhythm) string
	// Correlation ties the event to what caused it (the message SID).
	Correlation string
}

// ChangedRhythm is the outcome of SaveRhythm.
type ChangedRhythm struct {
	Rhythm Rhythm
	Reply  string
	// Repeated is true when the message SID was acted on before: nothing
	// changed now, and Reply is the first one.
	Repeated bool
}

// SaveRhythm makes a member's change in one transaction: the rhythm, an
// append-only history row with the source, evidence and the rhythm before
// and after, and a member.rhythm_changed event in the outbox. Changes to
// one address are serialized, so two texts at once cannot lose either.
func (s *Store) SaveRhythm(ctx context.Context, c RhythmChange) (ChangedRhythm, error) {
	var out ChangedRhythm
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('rhythm:' || $1))`, c.Address); err != nil {
			return fmt.Errorf("locking rhythm: %w", err)
		}
		if c.MessageSID != "" {
			var after []byte
			err := tx.QueryRow(ctx, `SELECT reply, after FROM member_rhythm_history WHERE message_sid = $1`, c.MessageSID).Scan(&out.Reply, &after)
			if err == nil {
				out.Repeated = true
				cur, err := scanRhythm(tx.QueryRow(ctx, `SELECT `+rhythmColumns+` FROM member_rhythm WHERE address = $1`, c.Address))
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("reading rhythm: %w", err)
				}
				out.Rhythm = cur
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("reading rhythm history: %w", err)
			}
		}
		cur, err := scanRhythm(tx.QueryRow(ctx, `SELECT `+rhythmColumns+` FROM member_rhythm WHERE address = $1`, c.Address))
		var before *rhythmRecord
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			cur = Rhythm{Address: c.Address, Channel: c.Channel, Channels: "both"}
		case err != nil:
			return fmt.Errorf("reading rhythm: %w", err)
		default:
			b := cur.record()
			before = &b
		}
		next := cur
		if err := c.Apply(&next); err != nil {
			return err
		}
		next.Address, next.UpdatedAt = c.Address, now
		if next.Channel == "" {
			next.Channel = c.Channel
		}
		var start, end *int16
		if next.Window != nil {
			st, en := minutes(next.Window.Start), minutes(next.Window.End)
			start, end = &st, &en
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO member_rhythm (address, channel, window_start, window_end, paused_until, less, language, channels, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (address) DO UPDATE SET window_start = excluded.window_start, window_end = excluded.window_end,
				paused_until = excluded.paused_until, less = excluded.less, language = excluded.language,
				channels = excluded.channels, updated_at = excluded.updated_at`,
			next.Address, next.Channel, start, end, next.PausedUntil, next.Less, next.Language, next.Channels, now)
		if err != nil {
			return fmt.Errorf("saving rhythm: %w", err)
		}
		reply := ""
		if c.Reply != nil {
			reply = c.Reply(next)
		}
		beforeJSON, err := marshalOrNil(before)
		if err != nil {
			return err
		}
		afterJSON, err := json.Marshal(next.record())
		if err != nil {
			return fmt.Errorf("encoding rhythm: %w", err)
		}
		var sid *string
		if c.MessageSID != "" {
			sid = &c.MessageSID
		}
		var id int64
		err = tx.QueryRow(ctx, `
			INSERT INTO member_rhythm_history (address, change, source, message_sid, evidence, before, after, reply, recorded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			c.Address, c.Change, c.Source, sid, c.Evidence, beforeJSON, afterJSON, reply, now).Scan(&id)
		if err != nil {
			return fmt.Errorf("recording rhythm change: %w", err)
		}
		// Texts the member's old rhythm held come due now, to be judged by
		// the new one: RESUME releases what the pause held, DAYS what
		// NIGHTS held. What the new rhythm still holds is deferred again.
		if next.Channel == string(events.ChannelSMS) {
			if _, err := tx.Exec(ctx, `UPDATE messages SET deferred_until = $3
				WHERE channel = $1 AND to_addr = $2 AND status = 'queued' AND deferred_until > $3
				  AND defer_reason IN ('pause', 'member_window', 'fewer_texts')`, next.Channel, next.Address, now); err != nil {
				return fmt.Errorf("releasing held texts: %w", err)
			}
		}
		key := fmt.Sprintf("rhythm.%d", id)
		if c.MessageSID != "" {
			key = "rhythm." + c.MessageSID
		}
		ev := rhythmEvent(next, c, key, now)
		if err := outbox.Add(ctx, tx, now, events.SubjectRhythmChanged, ev.ID, ev); err != nil {
			return err
		}
		out.Rhythm, out.Reply = next, reply
		return nil
	})
	if err != nil {
		return ChangedRhythm{}, err
	}
	if !out.Repeated {
		s.wake()
	}
	return out, nil
}

func marshalOrNil(r *rhythmRecord) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding rhythm: %w", err)
	}
	return b, nil
}

func rhythmEvent(r Rhythm, c RhythmChange, key string, now time.Time) *events.RhythmChanged {
	corr := c.Correlation
	if corr == "" {
		corr = key
	}
	var paused *time.Time
	if r.Paused(now) {
		p := r.PausedUntil.UTC()
		paused = &p
	}
	return &events.RhythmChanged{
		Meta:    events.KeyedMeta(key, events.TypeRhythmChanged, corr, now),
		Channel: events.Channel(r.Channel), Address: r.Address, Change: c.Change, Source: c.Source, Evidence: c.Evidence,
		Window: r.WindowText(), PausedUntil: paused, Less: r.Less, Language: r.Language, Channels: r.Channels, At: now.UTC(),
	}
}

// RhythmHistoryEntry is one recorded change.
type RhythmHistoryEntry struct {
	Change     string          `json:"change"`
	Source     string          `json:"source"`
	MessageSID string          `json:"message_sid,omitempty"`
	Evidence   string          `json:"evidence,omitempty"`
	Before     json.RawMessage `json:"before,omitempty"`
	After      json.RawMessage `json:"after"`
	RecordedAt time.Time       `json:"recorded_at"`
}

// RhythmHistory lists an address's changes, oldest first.
func (s *Store) RhythmHistory(ctx context.Context, address string) ([]RhythmHistoryEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT change, source, coalesce(message_sid, ''), evidence, before, after, recorded_at
		FROM member_rhythm_history WHERE address = $1 ORDER BY id`, address)
	if err != nil {
		return nil, fmt.Errorf("reading rhythm history: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RhythmHistoryEntry])
	if err != nil {
		return nil, fmt.Errorf("reading rhythm history: %w", err)
	}
	return list, nil
}
