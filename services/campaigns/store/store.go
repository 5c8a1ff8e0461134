// Package store keeps campaigns, their steps and fan-out progress, their
// recipients, members' answers and the inbox in PostgreSQL. Fan-out work
// and due steps are leased with FOR UPDATE SKIP LOCKED, so any number of
// campaigns replicas share them without coordination. Results are always
// counted from per-message and per-member rows, never from counters that a
// redelivered event could bump twice.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Store reads and writes the campaigns database.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New wraps a pool. now is the service's clock: every time the store
// writes or compares (leases, due steps, results) comes from it, never from
// PostgreSQL's now() (docs/delivery.md, "One clock").
func New(pool *pgxpool.Pool, now func() time.Time) *Store { return &Store{pool: pool, now: now} }

// spec is the JSON column holding what organizers wrote beyond the
// columns of the first campaigns.
type spec struct {
	Filter          json.RawMessage             `json:"filter,omitempty"`
	DefaultLanguage string                      `json:"default_language,omitempty"`
	Content         map[string]campaign.Content `json:"content,omitempty"`
	Meeting         *campaign.Meeting           `json:"meeting,omitempty"`
	Petition        *campaign.Petition          `json:"petition,omitempty"`
}

const columns = `c.id::text, c.name, c.kind, c.channel, c.body, c.audience_tag, c.status, c.targeted, c.created_at,
	c.launched_at, c.completed_at, c.spec, c.urgent, c.scheduled_at, c.paused_at, c.cancelled_at, c.revision`

func scan(row pgx.Row, extra ...any) (campaign.Campaign, error) {
	var c campaign.Campaign
	var sp spec
	dest := append([]any{&c.ID, &c.Name, &c.Kind, &c.Channel, &c.Body, &c.Audience.Tag, &c.Status, &c.Targeted, &c.CreatedAt,
		&c.LaunchedAt, &c.CompletedAt, &sp, &c.Urgent, &c.ScheduledAt, &c.PausedAt, &c.CancelledAt, &c.Revision}, extra...)
	if err := row.Scan(dest...); err != nil {
		return campaign.Campaign{}, err
	}
	c.Audience.Filter, c.DefaultLanguage, c.Content, c.Meeting, c.Petition = sp.Filter, sp.DefaultLanguage, sp.Content, sp.Meeting, sp.Petition
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = "en"
	}
	if c.Content == nil {
		// A campaign saved before languages existed: its body is the text.
		c.Content = map[string]campaign.Content{c.DefaultLanguage: {SMS: c.Body}}
	}
	return c, nil
}

func specOf(c campaign.Campaign) spec {
	return spec{Filter: c.Audience.Filter, DefaultLanguage: c.DefaultLanguage, Content: c.Content, Meeting: c.Meeting, Petition: c.Petition}
}

// Create saves a validated campaign as a draft.
func (s *Store) Create(ctx context.Context, c campaign.Campaign) (campaign.Campaign, error) {
	out, err := scan(s.pool.QueryRow(ctx, `INSERT INTO campaigns AS c (name, kind, channel, body, audience_tag, spec, urgent, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+columns,
		c.Name, string(c.Kind), string(c.Channel), c.Body, c.Audience.Tag, specOf(c), c.Urgent, s.now()))
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("creating campaign: %w", err)
	}
	return out, nil
}

// Update replaces a draft with a newly validated version; a campaign past
// draft is a conflict (its messages may be out already).
func (s *Store) Update(ctx context.Context, id string, c campaign.Campaign) (campaign.Campaign, error) {
	out, err := scan(s.pool.QueryRow(ctx, `UPDATE campaigns AS c SET name = $2, kind = $3, channel = $4, body = $5,
		audience_tag = $6, spec = $7, urgent = $8
		WHERE c.id::text = $1 AND c.status = 'draft' RETURNING `+columns,
		id, c.Name, string(c.Kind), string(c.Channel), c.Body, c.Audience.Tag, specOf(c), c.Urgent))
	if errors.Is(err, pgx.ErrNoRows) {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return campaign.Campaign{}, err
		}
		return campaign.Campaign{}, apperr.Conflict("campaign %s is %s; only a draft can be edited", id, cur.Status)
	}
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("updating campaign: %w", err)
	}
	return out, nil
}

// Get reads a campaign.
func (s *Store) Get(ctx context.Context, id string) (campaign.Campaign, error) {
	return get(ctx, s.pool, id, "")
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func get(ctx context.Context, q querier, id, lock string) (campaign.Campaign, error) {
	c, err := scan(q.QueryRow(ctx, `SELECT `+columns+` FROM campaigns c WHERE c.id::text = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return campaign.Campaign{}, apperr.NotFound("no campaign %s", id)
	}
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("reading campaign: %w", err)
	}
	return c, nil
}

// List returns a page of campaigns, newest first, after the position
// after (a next from an earlier page; empty for the first). next is empty
// on the last page. Paging is by (created_at, id), so campaigns made while
// an organizer pages never shift a page or appear twice.
func (s *Store) List(ctx context.Context, after string, limit int) (list []campaign.Campaign, next string, err error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	where, args := "true", []any{limit + 1}
	if after != "" {
		at, id, err := parsePosition(after)
		if err != nil {
			return nil, "", err
		}
		where, args = "(c.created_at, c.id) < ($2::timestamptz, $3::uuid)", append(args, at, id)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM campaigns c WHERE `+where+`
		ORDER BY c.created_at DESC, c.id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing campaigns: %w", err)
	}
	list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (campaign.Campaign, error) { return scan(r) })
	if err != nil {
		return nil, "", fmt.Errorf("reading campaigns: %w", err)
	}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		next = last.CreatedAt.UTC().Format(time.RFC3339Nano) + "," + last.ID
	}
	return list, next, nil
}

// parsePosition reads a list position: a creation time and an id.
func parsePosition(p string) (time.Time, string, error) {
	ts, id, ok := strings.Cut(p, ",")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !events.IsUUID(id) {
		return time.Time{}, "", apperr.Invalid("after", "is not a position this list gave out")
	}
	return at, id, nil
}

// Launch asks for a draft to be sent: now (step 0's fan-out jobs are made
// at once) or at a later time (the scheduler starts it). A meeting's
// reminders are scheduled with it. A campaign already launched, scheduled
// or paused is returned as it is with started false: a double click or a
// retried request starts nothing twice. A cancelled one is a conflict.
func (s *Store) Launch(ctx context.Context, id string, at, now time.Time) (c campaign.Campaign, started bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err = get(ctx, tx, id, "FOR UPDATE")
		if err != nil {
			return err
		}
		switch c.Status {
		case campaign.StatusCancelled:
			return apperr.Conflict("campaign %s is cancelled and cannot be launched", id)
		case campaign.StatusDraft:
		default:
			return nil
		}
		started = true
		later := at.After(now)
		status, stepStatus := campaign.StatusLaunching, "running"
		if later {
			status, stepStatus = campaign.StatusScheduled, "pending"
		}
		if _, err := tx.Exec(ctx, `INSERT INTO campaign_steps (campaign_id, step, kind, due_at, status, started_at, created_at)
			VALUES ($1::uuid, 0, 'send', $2, $3, CASE WHEN $3 = 'running' THEN $4::timestamptz END, $4)`, c.ID, at, stepStatus, now); err != nil {
			return fmt.Errorf("scheduling first message: %w", err)
		}
		if !later {
			if err := startJobs(ctx, tx, c, 0, now); err != nil {
				return err
			}
		}
		if m := c.Meeting; m != nil {
			for i, off := range m.Reminders {
				due := m.StartsAt.Add(time.Duration(off))
				st := "pending"
				if !due.After(at) {
					st = "skipped" // due before the invitation goes out
				}
				if _, err := tx.Exec(ctx, `INSERT INTO campaign_steps (campaign_id, step, kind, offset_seconds, due_at, status, created_at)
					VALUES ($1::uuid, $2, 'reminder', $3, $4, $5, $6)`, c.ID, i+1, int64(time.Duration(off)/time.Second), due, st, now); err != nil {
					return fmt.Errorf("scheduling reminder: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE campaigns SET next_step = $2 WHERE id = $1::uuid`, c.ID, len(m.Reminders)+1); err != nil {
				return fmt.Errorf("numbering steps: %w", err)
			}
		}
		c, err = scan(tx.QueryRow(ctx, `UPDATE campaigns c SET status = $2,
			launched_at = CASE WHEN $2 = 'launching' THEN $3::timestamptz END,
			scheduled_at = CASE WHEN $2 = 'scheduled' THEN $4::timestamptz END
			WHERE c.id = $1::uuid RETURNING `+columns, c.ID, string(status), now, at))
		if err != nil {
			return fmt.Errorf("launching campaign: %w", err)
		}
		return nil
	})
	if err != nil {
		return campaign.Campaign{}, false, err
	}
	return c, started, nil
}

// startJobs makes one fan-out job per channel of the campaign for a step.
func startJobs(ctx context.Context, tx pgx.Tx, c campaign.Campaign, step int, now time.Time) error {
	for _, ch := range c.Channel.List() {
		if _, err := tx.Exec(ctx, `INSERT INTO fanout_jobs (campaign_id, step, channel, created_at) VALUES ($1::uuid, $2, $3, $4)
			ON CONFLICT DO NOTHING`, c.ID, step, string(ch), now); err != nil {
			return fmt.Errorf("starting fan-out: %w", err)
		}
	}
	return nil
}

// Reschedule moves a scheduled campaign's first message to at. Only a
// campaign still waiting for its time can move (a paused one that was
// scheduled too): once the first message has started, it is a conflict.
// A meeting's reminders are skipped again or brought back, as at Launch,
// so none goes before the invitation.
func (s *Store) Reschedule(ctx context.Context, id string, at time.Time) (c campaign.Campaign, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if c, err = get(ctx, tx, id, "FOR UPDATE"); err != nil {
			return err
		}
		if c.Status != campaign.StatusScheduled && c.Status != campaign.StatusPaused {
			return apperr.Conflict("campaign %s is %s; only a scheduled campaign can be moved", id, c.Status)
		}
		tag, err := tx.Exec(ctx, `UPDATE campaign_steps SET due_at = $2 WHERE campaign_id = $1::uuid AND step = 0 AND status = 'pending'`, c.ID, at)
		if err != nil {
			return fmt.Errorf("moving first message: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return apperr.Conflict("campaign %s has started sending and can no longer be moved", id)
		}
		if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET status = CASE WHEN due_at <= $2 THEN 'skipped' ELSE 'pending' END
			WHERE campaign_id = $1::uuid AND kind = 'reminder' AND status IN ('pending', 'skipped')`, c.ID, at); err != nil {
			return fmt.Errorf("moving reminders: %w", err)
		}
		c, err = scan(tx.QueryRow(ctx, `UPDATE campaigns c SET scheduled_at = $2 WHERE c.id = $1::uuid RETURNING `+columns, c.ID, at))
		if err != nil {
			return fmt.Errorf("rescheduling campaign: %w", err)
		}
		return nil
	})
	return c, err
}

// Pause stops a campaign from publishing anything new: fan-outs stop after
// the page in flight and due steps wait. Pausing a paused campaign changes
// nothing; a draft or cancelled one cannot be paused.
func (s *Store) Pause(ctx context.Context, id string, now time.Time) (campaign.Campaign, error) {
	var c campaign.Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if c, err = get(ctx, tx, id, "FOR UPDATE"); err != nil {
			return err
		}
		switch c.Status {
		case campaign.StatusPaused:
			return nil
		case campaign.StatusDraft, campaign.StatusCancelled:
			return apperr.Conflict("campaign %s is %s and cannot be paused", id, c.Status)
		}
		c, err = scan(tx.QueryRow(ctx, `UPDATE campaigns c SET status = 'paused', paused_at = $2
			WHERE c.id = $1::uuid RETURNING `+columns, c.ID, now))
		if err != nil {
			return fmt.Errorf("pausing campaign: %w", err)
		}
		return nil
	})
	return c, err
}

// Resume takes a paused campaign back to where it was: scheduled if its
// first message's time has not come, launching if that fan-out is not
// done, launched otherwise. Due steps and fan-outs carry on from their
// cursors.
func (s *Store) Resume(ctx context.Context, id string) (campaign.Campaign, error) {
	now := s.now()
	var c campaign.Campaign
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if c, err = get(ctx, tx, id, "FOR UPDATE"); err != nil {
			return err
		}
		if c.Status != campaign.StatusPaused {
			if c.Status == campaign.StatusDraft || c.Status == campaign.StatusCancelled {
				return apperr.Conflict("campaign %s is %s, not paused", id, c.Status)
			}
			return nil
		}
		var first string
		if err := tx.QueryRow(ctx, `SELECT status FROM campaign_steps WHERE campaign_id = $1::uuid AND step = 0`, c.ID).Scan(&first); err != nil {
			return fmt.Errorf("reading first step: %w", err)
		}
		status := campaign.StatusLaunched
		switch first {
		case "pending":
			status = campaign.StatusScheduled
		case "running":
			status = campaign.StatusLaunching
		}
		c, err = scan(tx.QueryRow(ctx, `UPDATE campaigns c SET status = $2, paused_at = NULL,
			launched_at = coalesce(c.launched_at, CASE WHEN $2 = 'launching' THEN $3::timestamptz END)
			WHERE c.id = $1::uuid RETURNING `+columns, c.ID, string(status), now))
		if err != nil {
			return fmt.Errorf("resuming campaign: %w", err)
		}
		return nil
	})
	return c, err
}

// Cancel stops a campaign for good: pending steps are cancelled and
// fan-outs stop after the page in flight. A meeting whose invitation went
// out gets a cancellation step, due now, for everyone who said yes.
// Cancelling twice changes nothing the second time.
func (s *Store) Cancel(ctx context.Context, id, notice string, now time.Time) (c campaign.Campaign, notified bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if c, err = get(ctx, tx, id, "FOR UPDATE"); err != nil {
			return err
		}
		if c.Status == campaign.StatusCancelled {
			return nil
		}
		var invited bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaign_steps WHERE campaign_id = $1::uuid
			AND step = 0 AND status IN ('running', 'done'))`, c.ID).Scan(&invited); err != nil {
			return fmt.Errorf("reading first step: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET status = 'cancelled', done_at = $2
			WHERE campaign_id = $1::uuid AND status IN ('pending', 'running')`, c.ID, now); err != nil {
			return fmt.Errorf("cancelling steps: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE fanout_jobs SET status = 'cancelled', done_at = $2
			WHERE campaign_id = $1::uuid AND status = 'running'`, c.ID, now); err != nil {
			return fmt.Errorf("cancelling fan-outs: %w", err)
		}
		if c.Meeting != nil && invited {
			if _, err := addStep(ctx, tx, c.ID, "cancel", now, notice, now); err != nil {
				return err
			}
			notified = true
		}
		c, err = scan(tx.QueryRow(ctx, `UPDATE campaigns c SET status = 'cancelled', cancelled_at = $2
			WHERE c.id = $1::uuid RETURNING `+columns, c.ID, now))
		if err != nil {
			return fmt.Errorf("cancelling campaign: %w", err)
		}
		return nil
	})
	if err != nil {
		return campaign.Campaign{}, false, err
	}
	return c, notified, nil
}

// addStep appends a step due at due, numbered from the campaign's
// sequence, and returns its number.
func addStep(ctx context.Context, tx pgx.Tx, campaignID, kind string, due time.Time, notice string, now time.Time) (int, error) {
	var step int
	err := tx.QueryRow(ctx, `UPDATE campaigns SET next_step = next_step + 1 WHERE id = $1::uuid RETURNING next_step - 1`, campaignID).Scan(&step)
	if err != nil {
		return 0, fmt.Errorf("numbering step: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO campaign_steps (campaign_id, step, kind, due_at, notice, created_at) VALUES ($1::uuid, $2, $3, $4, $5, $6)`,
		campaignID, step, kind, due, notice, now); err != nil {
		return 0, fmt.Errorf("adding %s step: %w", kind, err)
	}
	return step, nil
}

// MeetingChange is an organizer's edit of a meeting.
type MeetingChange struct {
	Meeting campaign.Meeting
	// Notice replaces the default words of the update sent to those who
	// said yes.
	Notice string
}

// ChangeMeeting saves a moved or edited meeting. Reminders not yet sent
// move with it (those now in the past are skipped); reminders already
// sent whose new time is still ahead are scheduled again under new step
// numbers, so members are reminded of the right time; offsets the
// organizer removed are cancelled and new ones scheduled. When the time
// or place changed after the invitation went out, everyone who said yes
// is told, now.
func (s *Store) ChangeMeeting(ctx context.Context, id string, ch MeetingChange, now time.Time) (c campaign.Campaign, notified bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if c, err = get(ctx, tx, id, "FOR UPDATE"); err != nil {
			return err
		}
		if c.Meeting == nil {
			return apperr.Invalid("meeting", "campaign %s is not a meeting", id)
		}
		if c.Status == campaign.StatusCancelled {
			return apperr.Conflict("campaign %s is cancelled", id)
		}
		old, next := *c.Meeting, ch.Meeting
		moved := !old.StartsAt.Equal(next.StartsAt) || old.Place != next.Place || old.VideoURL != next.VideoURL || old.Duration != next.Duration
		c.Meeting = &next
		if moved {
			c.Revision++
		}
		if c.Status != campaign.StatusDraft {
			if err := reschedule(ctx, tx, c, now); err != nil {
				return err
			}
			var invited bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaign_steps WHERE campaign_id = $1::uuid
				AND step = 0 AND status IN ('running', 'done'))`, c.ID).Scan(&invited); err != nil {
				return fmt.Errorf("reading first step: %w", err)
			}
			if moved && invited {
				if _, err := addStep(ctx, tx, c.ID, "update", now, ch.Notice, now); err != nil {
					return err
				}
				notified = true
			}
		}
		c, err = scan(tx.QueryRow(ctx, `UPDATE campaigns c SET spec = $2, revision = $3
			WHERE c.id = $1::uuid RETURNING `+columns, c.ID, specOf(c), c.Revision))
		if err != nil {
			return fmt.Errorf("saving meeting: %w", err)
		}
		return nil
	})
	if err != nil {
		return campaign.Campaign{}, false, err
	}
	return c, notified, nil
}

// reschedule brings reminder steps in line with the campaign's meeting.
func reschedule(ctx context.Context, tx pgx.Tx, c campaign.Campaign, now time.Time) error {
	rows, err := tx.Query(ctx, `SELECT step, offset_seconds, status FROM campaign_steps
		WHERE campaign_id = $1::uuid AND kind = 'reminder' ORDER BY step`, c.ID)
	if err != nil {
		return fmt.Errorf("reading reminders: %w", err)
	}
	type rem struct {
		step   int
		offset int64
		status string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rem, error) {
		var x rem
		return x, r.Scan(&x.step, &x.offset, &x.status)
	})
	if err != nil {
		return fmt.Errorf("reading reminders: %w", err)
	}
	m := c.Meeting
	wanted := map[int64]bool{}
	for _, off := range m.Reminders {
		wanted[int64(time.Duration(off)/time.Second)] = true
	}
	// The newest step per offset decides what happens to that offset.
	latest := map[int64]rem{}
	for _, r := range list {
		latest[r.offset] = r
	}
	for off, r := range latest {
		due := m.StartsAt.Add(time.Duration(off) * time.Second)
		switch {
		case !wanted[off]:
			if r.status == "pending" {
				if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET status = 'cancelled', done_at = $3
					WHERE campaign_id = $1::uuid AND step = $2`, c.ID, r.step, now); err != nil {
					return fmt.Errorf("dropping reminder: %w", err)
				}
			}
		case r.status == "pending" || r.status == "skipped":
			st := "pending"
			if !due.After(now) {
				st = "skipped"
			}
			if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET due_at = $3, status = $4
				WHERE campaign_id = $1::uuid AND step = $2`, c.ID, r.step, due, st); err != nil {
				return fmt.Errorf("moving reminder: %w", err)
			}
		case (r.status == "done" || r.status == "running" || r.status == "cancelled") && due.After(now):
			// Sent (or under way) for the old time: remind again, fresh key.
			step, err := addStep(ctx, tx, c.ID, "reminder", due, "", now)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET offset_seconds = $3 WHERE campaign_id = $1::uuid AND step = $2`,
				c.ID, step, off); err != nil {
				return fmt.Errorf("numbering reminder: %w", err)
			}
		}
		delete(wanted, off)
	}
	for off := range wanted {
		due := m.StartsAt.Add(time.Duration(off) * time.Second)
		if !due.After(now) {
			continue
		}
		step, err := addStep(ctx, tx, c.ID, "reminder", due, "", now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET offset_seconds = $3 WHERE campaign_id = $1::uuid AND step = $2`,
			c.ID, step, off); err != nil {
			return fmt.Errorf("numbering reminder: %w", err)
		}
	}
	return nil
}

// Step is one scheduled message of a campaign.
type Step struct {
	Step      int        `json:"step"`
	Kind      string     `json:"kind"`
	Offset    string     `json:"offset,omitempty"`
	DueAt     time.Time  `json:"due_at"`
	Status    string     `json:"status"`
	Notice    string     `json:"notice,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	Published int        `json:"published"`
}

// Steps lists a campaign's steps in order, with how many messages each
// has published.
func (s *Store) Steps(ctx context.Context, id string) ([]Step, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.step, s.kind, s.offset_seconds, s.due_at, s.status, s.notice, s.started_at, s.done_at,
			coalesce((SELECT sum(published) FROM fanout_jobs j WHERE j.campaign_id = s.campaign_id AND j.step = s.step), 0)
		FROM campaign_steps s WHERE s.campaign_id::text = $1 ORDER BY s.step`, id)
	if err != nil {
		return nil, fmt.Errorf("listing steps: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Step, error) {
		var st Step
		var off *int64
		err := r.Scan(&st.Step, &st.Kind, &off, &st.DueAt, &st.Status, &st.Notice, &st.StartedAt, &st.DoneAt, &st.Published)
		if off != nil {
			st.Offset = (time.Duration(*off) * time.Second).String()
		}
		return st, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading steps: %w", err)
	}
	return list, nil
}
