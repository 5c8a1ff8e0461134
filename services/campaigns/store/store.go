// Package store keeps campaigns, their fan-out progress and their results
// in PostgreSQL. Fan-out work is leased with FOR UPDATE SKIP LOCKED, so any
// number of campaigns replicas share it without coordination.
package store

import (
	"context"
	"errors"
	"fmt"
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
}

// New wraps a pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const columns = `id::text, name, kind, channel, body, audience_tag, status, targeted, created_at, launched_at, completed_at`

func scan(row pgx.Row) (campaign.Campaign, error) {
	var c campaign.Campaign
	err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.Channel, &c.Body, &c.Audience.Tag, &c.Status, &c.Targeted,
		&c.CreatedAt, &c.LaunchedAt, &c.CompletedAt)
	return c, err
}

// Create saves a validated campaign as a draft.
func (s *Store) Create(ctx context.Context, c campaign.Campaign) (campaign.Campaign, error) {
	out, err := scan(s.pool.QueryRow(ctx, `INSERT INTO campaigns (name, kind, channel, body, audience_tag)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+columns, c.Name, c.Kind, string(c.Channel), c.Body, c.Audience.Tag))
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("creating campaign: %w", err)
	}
	return out, nil
}

// Get reads a campaign.
func (s *Store) Get(ctx context.Context, id string) (campaign.Campaign, error) {
	c, err := scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM campaigns WHERE id::text = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return campaign.Campaign{}, apperr.NotFound("no campaign %s", id)
	}
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("reading campaign: %w", err)
	}
	return c, nil
}

// List returns campaigns, newest first.
func (s *Store) List(ctx context.Context, limit int) ([]campaign.Campaign, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM campaigns ORDER BY created_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("listing campaigns: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (campaign.Campaign, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("reading campaigns: %w", err)
	}
	return list, nil
}

// Launch moves a draft to launching. A campaign already launching or
// launched is returned as it is with started false: a double click or a
// retried request starts nothing twice. A cancelled one is a conflict.
func (s *Store) Launch(ctx context.Context, id string) (c campaign.Campaign, started bool, err error) {
	c, err = scan(s.pool.QueryRow(ctx, `UPDATE campaigns SET status = 'launching', launched_at = now()
		WHERE id::text = $1 AND status = 'draft' RETURNING `+columns, id))
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return campaign.Campaign{}, false, fmt.Errorf("launching campaign: %w", err)
	}
	c, err = s.Get(ctx, id)
	if err != nil {
		return campaign.Campaign{}, false, err
	}
	if c.Status == campaign.StatusCancelled {
		return campaign.Campaign{}, false, apperr.Conflict("campaign %s is cancelled and cannot be launched", id)
	}
	return c, false, nil
}

// Lease is a claim on one campaign's fan-out.
type Lease struct {
	Campaign campaign.Campaign
	Cursor   string
	Owner    string
}

// ClaimFanout leases the oldest launching campaign whose lease has run
// out (never taken, or its holder died), or returns nil when none waits.
func (s *Store) ClaimFanout(ctx context.Context, owner string, ttl time.Duration) (*Lease, error) {
	var cursor string
	c, err := scanWith(s.pool.QueryRow(ctx, `
		UPDATE campaigns SET lease_owner = $1, lease_until = now() + $2::interval
		WHERE id = (SELECT id FROM campaigns WHERE status = 'launching' AND lease_until < now()
		            ORDER BY launched_at FOR UPDATE SKIP LOCKED LIMIT 1)
		RETURNING `+columns+`, fanout_cursor`, owner, ttl.String()), &cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claiming fan-out: %w", err)
	}
	return &Lease{Campaign: c, Cursor: cursor, Owner: owner}, nil
}

func scanWith(row pgx.Row, cursor *string) (campaign.Campaign, error) {
	var c campaign.Campaign
	err := row.Scan(&c.ID, &c.Name, &c.Kind, &c.Channel, &c.Body, &c.Audience.Tag, &c.Status, &c.Targeted,
		&c.CreatedAt, &c.LaunchedAt, &c.CompletedAt, cursor)
	return c, err
}

// ErrLeaseLost means another replica took the fan-out over (this one
// stalled past its lease); the caller must stop at once.
var ErrLeaseLost = errors.New("fan-out lease lost")

// Advance records that every send request up to cursor is acknowledged,
// and renews the lease. Only the lease holder may advance.
func (s *Store) Advance(ctx context.Context, l *Lease, cursor string, published int, ttl time.Duration) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET fanout_cursor = $3, targeted = targeted + $4,
		lease_until = now() + $5::interval
		WHERE id = $1::uuid AND lease_owner = $2 AND status = 'launching'`, l.Campaign.ID, l.Owner, cursor, published, ttl.String())
	if err != nil {
		return fmt.Errorf("advancing fan-out: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	l.Cursor = cursor
	return nil
}

// Complete marks the fan-out done.
func (s *Store) Complete(ctx context.Context, l *Lease) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = 'launched', completed_at = now(), lease_owner = ''
		WHERE id = $1::uuid AND lease_owner = $2 AND status = 'launching'`, l.Campaign.ID, l.Owner)
	if err != nil {
		return fmt.Errorf("completing fan-out: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// RecordStatus keeps a message's latest status for results; a report that
// ranks lower than what is stored (late, repeated) changes nothing.
func (s *Store) RecordStatus(ctx context.Context, ev events.StatusChanged, rank int) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO campaign_messages (message_id, campaign_id, contact_id, status, status_rank)
		VALUES ($1, $2::uuid, $3, $4, $5)
		ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, status_rank = excluded.status_rank, updated_at = now()
		WHERE campaign_messages.status_rank < excluded.status_rank`,
		ev.MessageID, ev.CampaignID, ev.ContactID, ev.Status, rank)
	if err != nil {
		return fmt.Errorf("recording message status: %w", err)
	}
	return nil
}

// RecordReply keeps a member's reply to a campaign, once per event.
func (s *Store) RecordReply(ctx context.Context, ev events.InboundReceived) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO campaign_replies (event_id, campaign_id, contact_id, body, keyword)
		VALUES ($1, $2::uuid, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING`,
		ev.ID, ev.CampaignID, ev.ContactID, ev.Body, ev.Keyword)
	if err != nil {
		return fmt.Errorf("recording reply: %w", err)
	}
	return nil
}

// Results are a campaign's live numbers.
type Results struct {
	CampaignID string         `json:"campaign_id"`
	Status     string         `json:"status"`
	Targeted   int            `json:"targeted"`
	ByStatus   map[string]int `json:"by_status"`
	Replies    int            `json:"replies"`
	OptOuts    int            `json:"opt_outs"`
}

// Results counts a campaign's messages by their latest status.
func (s *Store) Results(ctx context.Context, id string) (Results, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Results{}, err
	}
	r := Results{CampaignID: c.ID, Status: string(c.Status), Targeted: c.Targeted, ByStatus: map[string]int{}}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM campaign_messages WHERE campaign_id = $1::uuid GROUP BY status`, id)
	if err != nil {
		return Results{}, fmt.Errorf("counting results: %w", err)
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			rows.Close()
			return Results{}, fmt.Errorf("reading results: %w", err)
		}
		r.ByStatus[st] = n
	}
	if err := rows.Err(); err != nil {
		return Results{}, fmt.Errorf("reading results: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE keyword = 'opt_out')
		FROM campaign_replies WHERE campaign_id = $1::uuid`, id).Scan(&r.Replies, &r.OptOuts)
	if err != nil {
		return Results{}, fmt.Errorf("counting replies: %w", err)
	}
	return r, nil
}
