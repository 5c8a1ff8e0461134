package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Lease is a claim on one fan-out job: one step of one campaign on one
// channel.
type Lease struct {
	CampaignID string
	Step       int
	Channel    events.Channel
	Kind       campaign.StepKind
	Notice     string
	Cursor     string
	Owner      string
}

// ErrLeaseLost means another replica took the fan-out over (this one
// stalled past its lease); the caller must stop at once.
var ErrLeaseLost = errors.New("fan-out lease lost")

// ErrStopped means the campaign was paused or cancelled: the fan-out stops
// after the page it just recorded.
var ErrStopped = errors.New("fan-out stopped: campaign paused or cancelled")

// ClaimFanout leases the oldest running job whose lease has run out (never
// taken, or its holder died) and whose campaign is not paused, or returns
// nil when none waits. A cancelled campaign's only job left to run is its
// cancellation notice.
func (s *Store) ClaimFanout(ctx context.Context, owner string, ttl time.Duration) (*Lease, error) {
	var l Lease
	var ch, kind string
	err := s.pool.QueryRow(ctx, `
		UPDATE fanout_jobs j SET lease_owner = $1, lease_until = $3::timestamptz + $2::interval
		FROM campaign_steps s
		WHERE (j.campaign_id, j.step, j.channel) = (
			SELECT j2.campaign_id, j2.step, j2.channel FROM fanout_jobs j2
			JOIN campaigns c ON c.id = j2.campaign_id
			JOIN campaign_steps s2 ON s2.campaign_id = j2.campaign_id AND s2.step = j2.step
			WHERE j2.status = 'running' AND j2.lease_until < $3::timestamptz AND c.status <> 'paused'
			  AND (c.status <> 'cancelled' OR s2.kind = 'cancel')
			ORDER BY j2.created_at, j2.step, j2.channel
			FOR UPDATE OF j2 SKIP LOCKED LIMIT 1)
		  AND s.campaign_id = j.campaign_id AND s.step = j.step
		RETURNING j.campaign_id::text, j.step, j.channel, j.cursor, s.kind, s.notice`, owner, ttl.String(), s.now()).
		Scan(&l.CampaignID, &l.Step, &ch, &l.Cursor, &kind, &l.Notice)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claiming fan-out: %w", err)
	}
	l.Channel, l.Kind, l.Owner = events.Channel(ch), campaign.StepKind(kind), owner
	return &l, nil
}

// Advance records that every send request up to cursor is acknowledged,
// keeps the step's recipients (for step 0: the members just published to)
// and renews the lease. Only the lease holder may advance. The page is
// recorded even when the campaign was paused or cancelled meanwhile (its
// messages are out); ErrStopped then tells the caller to stop.
func (s *Store) Advance(ctx context.Context, l *Lease, cursor string, members []events.Member, ttl time.Duration) error {
	now := s.now()
	stopped := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Campaign row first, as every writer of a campaign's rows locks
		// it, so an organizer's cancel and a fan-out never deadlock.
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM campaigns WHERE id = $1::uuid FOR UPDATE`, l.CampaignID).Scan(&status); err != nil {
			return fmt.Errorf("reading campaign status: %w", err)
		}
		var jobStatus string
		err := tx.QueryRow(ctx, `UPDATE fanout_jobs SET cursor = $4, published = published + $5, lease_until = $8::timestamptz + $6::interval
			WHERE campaign_id = $1::uuid AND step = $2 AND channel = $3 AND lease_owner = $7 AND status IN ('running', 'cancelled')
			RETURNING status`, l.CampaignID, l.Step, string(l.Channel), cursor, len(members), ttl.String(), l.Owner, now).Scan(&jobStatus)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("advancing fan-out: %w", err)
		}
		if l.Step == 0 && len(members) > 0 {
			if err := addRecipients(ctx, tx, l, members, now); err != nil {
				return err
			}
		}
		stopped = jobStatus != "running" || status == string(campaign.StatusPaused) ||
			(status == string(campaign.StatusCancelled) && l.Kind != campaign.StepCancel)
		return nil
	})
	if err != nil {
		return err
	}
	l.Cursor = cursor
	if stopped {
		return ErrStopped
	}
	return nil
}

func addRecipients(ctx context.Context, tx pgx.Tx, l *Lease, members []events.Member, at time.Time) error {
	n := len(members)
	ids, addrs, first, last, lang, tz, fields := make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n), make([]string, n), make([]string, n)
	organizer := make([]string, n)
	for i := range members {
		m := &members[i]
		ids[i], first[i], last[i], lang[i], tz[i] = m.ContactID, m.FirstName, m.LastName, m.Language, m.TimeZone
		organizer[i] = m.OrganizerFirstName
		addrs[i] = m.Phone
		if l.Channel == events.ChannelEmail {
			addrs[i] = m.Email
		}
		if len(m.Fields) > 0 {
			b, err := json.Marshal(m.Fields)
			if err != nil {
				return fmt.Errorf("encoding member fields: %w", err)
			}
			fields[i] = string(b)
		}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO campaign_recipients (campaign_id, contact_id, channel, address, first_name, last_name, language, time_zone, fields, organizer_first_name, created_at)
		SELECT $1::uuid, u.id, $2, u.addr, u.first, u.last, u.lang, u.tz, nullif(u.fields, '')::jsonb, u.organizer, $10
		FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $11::text[])
			AS u(id, addr, first, last, lang, tz, fields, organizer)
		ON CONFLICT DO NOTHING`, l.CampaignID, string(l.Channel), ids, addrs, first, last, lang, tz, fields, at, organizer)
	if err != nil {
		return fmt.Errorf("recording recipients: %w", err)
	}
	if added := tag.RowsAffected(); added > 0 {
		if _, err := tx.Exec(ctx, `UPDATE campaigns SET targeted = targeted + $2 WHERE id = $1::uuid`, l.CampaignID, added); err != nil {
			return fmt.Errorf("counting recipients: %w", err)
		}
	}
	return nil
}

// Complete marks a job done; the last job of a step marks the step done,
// and step 0 done marks the campaign launched.
func (s *Store) Complete(ctx context.Context, l *Lease) error {
	now := s.now()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The campaign row, then the step row: the last of a step's jobs
		// to finish always sees the others done, and the lock order is
		// the organizer's (campaign first), so the two never deadlock.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM campaigns WHERE id = $1::uuid FOR UPDATE`, l.CampaignID); err != nil {
			return fmt.Errorf("locking campaign: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM campaign_steps WHERE campaign_id = $1::uuid AND step = $2 FOR UPDATE`,
			l.CampaignID, l.Step); err != nil {
			return fmt.Errorf("locking step: %w", err)
		}
		tag, err := tx.Exec(ctx, `UPDATE fanout_jobs SET status = 'done', done_at = $5, lease_owner = ''
			WHERE campaign_id = $1::uuid AND step = $2 AND channel = $3 AND lease_owner = $4 AND status = 'running'`,
			l.CampaignID, l.Step, string(l.Channel), l.Owner, now)
		if err != nil {
			return fmt.Errorf("completing fan-out: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrLeaseLost
		}
		var open bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fanout_jobs WHERE campaign_id = $1::uuid AND step = $2 AND status = 'running')`,
			l.CampaignID, l.Step).Scan(&open); err != nil {
			return fmt.Errorf("checking step: %w", err)
		}
		if open {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET status = 'done', done_at = $3
			WHERE campaign_id = $1::uuid AND step = $2 AND status = 'running'`, l.CampaignID, l.Step, now); err != nil {
			return fmt.Errorf("completing step: %w", err)
		}
		if l.Step == 0 {
			if _, err := tx.Exec(ctx, `UPDATE campaigns SET status = 'launched', completed_at = $2
				WHERE id = $1::uuid AND status = 'launching'`, l.CampaignID, now); err != nil {
				return fmt.Errorf("completing campaign: %w", err)
			}
		}
		return nil
	})
}

// Release hands a lease back at once (a graceful stop, a pause), so the
// next replica need not wait for it to run out.
func (s *Store) Release(ctx context.Context, l *Lease) error {
	_, err := s.pool.Exec(ctx, `UPDATE fanout_jobs SET lease_until = '-infinity', lease_owner = ''
		WHERE campaign_id = $1::uuid AND step = $2 AND channel = $3 AND lease_owner = $4`,
		l.CampaignID, l.Step, string(l.Channel), l.Owner)
	if err != nil {
		return fmt.Errorf("releasing fan-out lease: %w", err)
	}
	return nil
}

// RecipientsPage returns, in contact order after after, the recipients of
// a campaign's first message on ch whom a later step goes to: reminders
// to everyone but those who said no, notices to those who said yes.
func (s *Store) RecipientsPage(ctx context.Context, campaignID string, kind campaign.StepKind, ch events.Channel, after string, limit int) ([]events.Member, error) {
	cond := `NOT EXISTS (SELECT 1 FROM rsvps v WHERE v.campaign_id = r.campaign_id AND v.contact_id = r.contact_id AND v.answer = 'no')`
	if kind == campaign.StepUpdate || kind == campaign.StepCancel {
		cond = `EXISTS (SELECT 1 FROM rsvps v WHERE v.campaign_id = r.campaign_id AND v.contact_id = r.contact_id AND v.answer = 'yes')`
	}
	rows, err := s.pool.Query(ctx, `SELECT r.contact_id, r.address, r.first_name, r.last_name, r.language, r.time_zone, r.fields,
			r.organizer_first_name
		FROM campaign_recipients r
		WHERE r.campaign_id = $1::uuid AND r.channel = $2 AND r.contact_id > $3 AND `+cond+`
		ORDER BY r.contact_id LIMIT $4`, campaignID, string(ch), after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading recipients: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Member, error) {
		var m events.Member
		var addr string
		err := r.Scan(&m.ContactID, &addr, &m.FirstName, &m.LastName, &m.Language, &m.TimeZone, &m.Fields, &m.OrganizerFirstName)
		if ch == events.ChannelEmail {
			m.Email = addr
		} else {
			m.Phone = addr
		}
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading recipients: %w", err)
	}
	return list, nil
}

// Recipient finds what the first message recorded about a member, for an
// auto-reply's greeting; false when the member was not a recipient.
func (s *Store) Recipient(ctx context.Context, campaignID, contactID string) (events.Member, bool, error) {
	var m events.Member
	var ch, addr string
	err := s.pool.QueryRow(ctx, `SELECT contact_id, channel, address, first_name, last_name, language, time_zone, fields,
		organizer_first_name FROM campaign_recipients WHERE campaign_id::text = $1 AND contact_id = $2 ORDER BY channel DESC LIMIT 1`,
		campaignID, contactID).Scan(&m.ContactID, &ch, &addr, &m.FirstName, &m.LastName, &m.Language, &m.TimeZone, &m.Fields, &m.OrganizerFirstName)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Member{}, false, nil
	}
	if err != nil {
		return events.Member{}, false, fmt.Errorf("reading recipient: %w", err)
	}
	if ch == string(events.ChannelEmail) {
		m.Email = addr
	} else {
		m.Phone = addr
	}
	return m, true, nil
}

// StartDue starts the steps whose time has come, as campaign.Due decides
// for each, and returns how many it started. Steps are locked with SKIP
// LOCKED, so replicas running the scheduler at once start each step once.
func (s *Store) StartDue(ctx context.Context, now time.Time, limit int) (int, error) {
	started := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Steps that would only wait (a paused campaign's, reminders of an
		// invitation still going out) are left out, so they never crowd
		// out steps that can start.
		rows, err := tx.Query(ctx, `SELECT s.campaign_id::text, s.step, s.kind FROM campaign_steps s
			WHERE s.status = 'pending' AND s.due_at <= $1
			  AND NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.id = s.campaign_id
			                  AND ((c.status = 'paused' AND s.kind <> 'cancel')
			                    OR (s.kind = 'reminder' AND c.status IN ('scheduled', 'launching'))))
			ORDER BY s.due_at FOR UPDATE OF s SKIP LOCKED LIMIT $2`, now, limit)
		if err != nil {
			return fmt.Errorf("finding due steps: %w", err)
		}
		type due struct {
			id   string
			step int
			kind campaign.StepKind
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var d due
			return d, r.Scan(&d.id, &d.step, &d.kind)
		})
		if err != nil {
			return fmt.Errorf("reading due steps: %w", err)
		}
		for _, d := range list {
			// SKIP LOCKED: an organizer editing the campaign holds its row
			// and may wait for these steps; the step is taken next tick.
			c, err := get(ctx, tx, d.id, "FOR UPDATE SKIP LOCKED")
			if apperr.KindOf(err) == apperr.KindNotFound {
				continue
			}
			if err != nil {
				return err
			}
			status := ""
			switch campaign.Due(c, d.kind, now) {
			case campaign.Wait:
				continue
			case campaign.Skip:
				status = "skipped"
			case campaign.Cancel:
				status = "cancelled"
			case campaign.Start:
				status = "running"
				if err := startJobs(ctx, tx, c, d.step, now); err != nil {
					return err
				}
				if d.step == 0 {
					if _, err := tx.Exec(ctx, `UPDATE campaigns SET status = 'launching', launched_at = $2
						WHERE id = $1::uuid AND status = 'scheduled'`, c.ID, now); err != nil {
						return fmt.Errorf("launching scheduled campaign: %w", err)
					}
				}
				started++
			}
			if _, err := tx.Exec(ctx, `UPDATE campaign_steps SET status = $3,
				started_at = CASE WHEN $3 = 'running' THEN $4::timestamptz END,
				done_at = CASE WHEN $3 <> 'running' THEN $4::timestamptz END
				WHERE campaign_id = $1::uuid AND step = $2`, c.ID, d.step, status, now); err != nil {
				return fmt.Errorf("starting step: %w", err)
			}
		}
		return nil
	})
	return started, err
}
