package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
)

// Review is a member's text that might be an opt-out, waiting for an
// organizer's decision or decided.
type Review struct {
	ID               string     `json:"id"`
	InboundMessageID string     `json:"inbound_message_id"`
	ProviderID       string     `json:"provider_id"`
	Channel          string     `json:"channel"`
	Address          string     `json:"address"`
	Body             string     `json:"body"`
	Reason           string     `json:"reason"`
	CampaignID       string     `json:"campaign_id"`
	ContactID        string     `json:"contact_id"`
	ReceivedAt       time.Time  `json:"received_at"`
	DueAt            time.Time  `json:"due_at"`
	WarnAt           time.Time  `json:"warn_at"`
	DecidedAt        *time.Time `json:"decided_at"`
	Decision         string     `json:"decision"`
	DecidedBy        string     `json:"decided_by"`
	// Outcome is what the decision did to the suppression list: "added",
	// "renewed" (the address was suppressed already), "superseded" (the
	// member opted back in after this text, so their later word stands)
	// or "" (not an opt-out).
	Outcome string `json:"outcome"`
	// Warn is true for an open review inside the warning window (due
	// within review.WarnDays business days, or overdue).
	Warn bool `json:"warn"`
}

// Review decisions.
const (
	DecisionOptOut    = "opt_out"
	DecisionNotOptOut = "not_opt_out"
	DecisionDeadline  = "deadline"
)

// ReviewDeadline is when a new review must be decided by and when its
// organizer is warned (package review computes them).
type ReviewDeadline struct {
	DueAt, WarnAt time.Time
}

const reviewColumns = `id::text, inbound_message_id::text, provider_id, channel, address, body, reason, campaign_id, contact_id,
	received_at, due_at, warn_at, decided_at, coalesce(decision, ''), decided_by, outcome, false`

func scanReviews(rows pgx.Rows, now time.Time) ([]Review, error) {
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Review])
	if err != nil {
		return nil, fmt.Errorf("reading reviews: %w", err)
	}
	for i := range list {
		list[i].Warn = list[i].DecidedAt == nil && !now.Before(list[i].WarnAt)
	}
	return list, nil
}

// openReview opens the review of a recorded inbound message, in the
// transaction that records it: what the member wrote, when delivery first
// received it and who it is come from the record itself. A message has
// one review, however often its webhook arrives.
func openReview(ctx context.Context, tx pgx.Tx, inboundID string, d ReviewDeadline) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO optout_reviews (inbound_message_id, provider_id, channel, address, body, reason, campaign_id, contact_id,
			received_at, due_at, warn_at)
		SELECT id, provider_id, channel, from_addr, body, reason, campaign_id, contact_id, received_at, $2, $3
		FROM inbound_messages WHERE id = $1
		ON CONFLICT (inbound_message_id) DO NOTHING`, inboundID, d.DueAt, d.WarnAt)
	if err != nil {
		return fmt.Errorf("opening review: %w", err)
	}
	return nil
}

// ReviewQuery selects reviews: State "open" (oldest due first) or
// "decided" (latest decided first), a page of Limit after After (the
// Next of the page before).
type ReviewQuery struct {
	State string
	After string
	Limit int
}

// ReviewPage is one page of reviews. DueSoon counts every open review
// inside the warning window, on any page.
type ReviewPage struct {
	Reviews []Review
	Next    string
	DueSoon int
}

// Reviews lists reviews as of now (which decides the warn flags).
func (s *Store) Reviews(ctx context.Context, q ReviewQuery, now time.Time) (ReviewPage, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 100
	}
	var where, order string
	switch q.State {
	case "", "open":
		q.State, where, order = "open", "decided_at IS NULL", "due_at, id"
	case "decided":
		where, order = "decided_at IS NOT NULL", "decided_at DESC, id DESC"
	default:
		return ReviewPage{}, apperr.Invalid("state", "want open or decided")
	}
	args := []any{q.Limit + 1}
	if q.After != "" {
		at, id, ok := strings.Cut(q.After, " ")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil || !uuidLike(id) {
			return ReviewPage{}, apperr.Invalid("after", "is not a position this list gave out")
		}
		if q.State == "open" {
			where += " AND (due_at, id) > ($2, $3::uuid)"
		} else {
			where += " AND (decided_at, id) < ($2, $3::uuid)"
		}
		args = append(args, t, id)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+reviewColumns+` FROM optout_reviews WHERE `+where+` ORDER BY `+order+` LIMIT $1`, args...)
	if err != nil {
		return ReviewPage{}, fmt.Errorf("listing reviews: %w", err)
	}
	list, err := scanReviews(rows, now)
	if err != nil {
		return ReviewPage{}, err
	}
	page := ReviewPage{Reviews: list}
	if len(list) > q.Limit {
		page.Reviews = list[:q.Limit]
		last := page.Reviews[q.Limit-1]
		key := last.DueAt
		if q.State == "decided" {
			key = *last.DecidedAt
		}
		page.Next = key.UTC().Format(time.RFC3339Nano) + " " + last.ID
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM optout_reviews WHERE decided_at IS NULL AND warn_at <= $1`, now).Scan(&page.DueSoon)
	if err != nil {
		return ReviewPage{}, fmt.Errorf("counting reviews due soon: %w", err)
	}
	return page, nil
}

func uuidLike(s string) bool {
	return len(s) == 36 && strings.Count(s, "-") == 4
}

// ReviewDecision is an organizer's (or the deadline's) decision on a
// review.
type ReviewDecision struct {
	Decision string
	By       string
	At       time.Time
	// Suppress, for an opt-out, builds the suppression (with its consent
	// event) from the review; the store applies it in the transaction
	// that records the decision, unless the member opted back in after
	// the text.
	Suppress func(Review) Suppression
}

// DecideReview records a decision on an open review and, for an opt-out,
// suppresses the address with it, all in one transaction. A review
// already decided is returned as it stands with decided false, unchanged:
// the first decision holds.
func (s *Store) DecideReview(ctx context.Context, id string, d ReviewDecision) (rv Review, decided bool, err error) {
	if !uuidLike(id) {
		return Review{}, false, apperr.NotFound("no review %s", id)
	}
	announced := false
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+reviewColumns+` FROM optout_reviews WHERE id = $1::uuid FOR UPDATE`, id)
		if err != nil {
			return fmt.Errorf("reading review: %w", err)
		}
		list, err := scanReviews(rows, d.At)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return apperr.NotFound("no review %s", id)
		}
		rv = list[0]
		if rv.DecidedAt != nil {
			return nil
		}
		outcome := ""
		if d.Suppress != nil {
			var later bool
			optIns := []string{string(consent.OptIn), string(consent.Join)}
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM inbound_messages
				WHERE channel = $1 AND from_addr = $2 AND keyword = ANY($4) AND received_at > $3)`,
				rv.Channel, rv.Address, rv.ReceivedAt, optIns).Scan(&later)
			if err != nil {
				return fmt.Errorf("checking later opt-ins: %w", err)
			}
			outcome = "superseded"
			if !later {
				sup := d.Suppress(rv)
				added, err := s.suppressIn(ctx, tx, sup)
				if err != nil {
					return err
				}
				announced = sup.Announce != nil
				outcome = "renewed"
				if added {
					outcome = "added"
				}
			}
		}
		err = tx.QueryRow(ctx, `UPDATE optout_reviews SET decided_at = $2, decision = $3, decided_by = $4, outcome = $5
			WHERE id = $1::uuid RETURNING decided_at`, id, d.At, d.Decision, d.By, outcome).Scan(&rv.DecidedAt)
		if err != nil {
			return fmt.Errorf("recording decision: %w", err)
		}
		rv.Decision, rv.DecidedBy, rv.Outcome, rv.Warn, decided = d.Decision, d.By, outcome, false, true
		return nil
	})
	if err != nil {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			return Review{}, false, err
		}
		return Review{}, false, fmt.Errorf("deciding review: %w", err)
	}
	if announced {
		s.wake()
	}
	return rv, decided, nil
}

// ReviewsDue lists open reviews whose deadline has passed at now, oldest
// first, at most limit.
func (s *Store) ReviewsDue(ctx context.Context, now time.Time, limit int) ([]Review, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+reviewColumns+` FROM optout_reviews
		WHERE decided_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("listing reviews due: %w", err)
	}
	return scanReviews(rows, now)
}

// WarnReviews marks the open reviews that have entered the warning window
// by now and returns them: each is returned once, by one replica, so its
// warning is given once.
func (s *Store) WarnReviews(ctx context.Context, now time.Time) ([]Review, error) {
	rows, err := s.pool.Query(ctx, `UPDATE optout_reviews SET warned_at = $1
		WHERE decided_at IS NULL AND warned_at IS NULL AND warn_at <= $1
		RETURNING `+reviewColumns, now)
	if err != nil {
		return nil, fmt.Errorf("warning of reviews: %w", err)
	}
	return scanReviews(rows, now)
}

// ReviewCounts counts the open reviews and, of those, the ones inside the
// warning window at now, for the metrics.
func (s *Store) ReviewCounts(ctx context.Context, now time.Time) (open, dueSoon int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE warn_at <= $1)
		FROM optout_reviews WHERE decided_at IS NULL`, now).Scan(&open, &dueSoon)
	if err != nil {
		return 0, 0, fmt.Errorf("counting open reviews: %w", err)
	}
	return open, dueSoon, nil
}
