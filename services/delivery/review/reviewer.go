package review

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// ByDeadline is who decided a review nobody decided in time.
const ByDeadline = "deadline"

// Reviewer decides reviews, on an organizer's word or at the deadline.
type Reviewer struct {
	store *store.Store
	now   func() time.Time
	log   *zap.Logger
}

// New builds a reviewer on the service's clock (nil is time.Now).
func New(st *store.Store, clock func() time.Time, log *zap.Logger) *Reviewer {
	if clock == nil {
		clock = time.Now
	}
	return &Reviewer{store: st, now: clock, log: log}
}

// Decide records an organizer's decision on a review: optOut suppresses
// the address as the member's own revocation (their words, confirmed by
// the organizer named by), otherwise the review closes and nothing is
// suppressed. Deciding again the same way answers the first decision;
// deciding otherwise is a conflict: the first decision holds.
func (r *Reviewer) Decide(ctx context.Context, id string, optOut bool, by string) (store.Review, error) {
	by = strings.TrimSpace(by)
	if by == "" {
		return store.Review{}, apperr.Invalid("by", "name who decided")
	}
	d := store.ReviewDecision{Decision: store.DecisionNotOptOut, By: by, At: r.now()}
	if optOut {
		d.Decision = store.DecisionOptOut
		d.Suppress = func(rv store.Review) store.Suppression {
			return r.suppression(rv, "confirmed by "+by, "member text, confirmed an opt-out by "+by)
		}
	}
	rv, decided, err := r.store.DecideReview(ctx, id, d)
	if err != nil {
		return store.Review{}, err
	}
	if !decided && rv.Decision != d.Decision {
		return rv, apperr.Conflict("review %s was decided already (%s by %s)", id, rv.Decision, rv.DecidedBy)
	}
	if decided {
		r.log.Info("possible opt-out decided", zap.String("review_id", rv.ID), zap.String("decision", rv.Decision),
			zap.String("by", by), zap.String("outcome", rv.Outcome), logging.Address("from", rv.Address))
	}
	return rv, nil
}

// suppression is the opt-out a review becomes: the member's own (their
// text revoked consent; the decision only read it), as of when delivery
// first received it, so a START they send later lifts it and one they
// sent earlier does not. Its consent event has a key of its own, so a
// decision retried after a crash is announced once.
func (r *Reviewer) suppression(rv store.Review, confirmed, reason string) store.Suppression {
	source := events.SourceInboundSMS
	if rv.Channel == string(events.ChannelEmail) {
		source = events.SourceInboundEmail
	}
	evidence := fmt.Sprintf("%s (%s, message %s) %s", rv.Body, rv.ProviderID, rv.InboundMessageID, confirmed)
	reason = reason + ": " + rv.Reason
	return store.Suppression{
		Channel: rv.Channel, Address: rv.Address, Reason: reason, Source: source, Evidence: evidence, At: rv.ReceivedAt,
		Announce: consent.Change{
			Channel: events.Channel(rv.Channel), Address: rv.Address, Change: events.ConsentOptedOut, Source: source,
			Evidence: evidence, Reason: reason, At: rv.ReceivedAt, Key: "review." + rv.ID, Correlation: rv.ProviderID,
		}.Event(r.now()),
		AnnounceRepeat: true,
	}
}

// Sweep runs until ctx ends, every every: it warns once of each review
// that entered the warning window (WarnDays business days before its
// deadline) and treats each review past its deadline as an opt-out. Any
// replica may run it: warnings are claimed in one statement and a
// decision holds once.
func (r *Reviewer) Sweep(ctx context.Context, every time.Duration) {
	for {
		if err := r.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("sweeping possible opt-outs failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// SweepOnce gives the warnings due and decides the reviews past their
// deadline, as of the clock's now.
func (r *Reviewer) SweepOnce(ctx context.Context) error {
	now := r.now()
	warned, err := r.store.WarnReviews(ctx, now)
	if err != nil {
		return err
	}
	for _, rv := range warned {
		r.log.Warn("possible opt-out undecided; treated as an opt-out at its deadline", zap.String("review_id", rv.ID),
			zap.Time("due_at", rv.DueAt), zap.String("campaign_id", rv.CampaignID), logging.Address("from", rv.Address))
	}
	for {
		due, err := r.store.ReviewsDue(ctx, now, 100)
		if err != nil {
			return err
		}
		for _, rv := range due {
			d := store.ReviewDecision{Decision: store.DecisionDeadline, By: ByDeadline, At: now,
				Suppress: func(rv store.Review) store.Suppression {
					return r.suppression(rv, "undecided at the 10-business-day deadline", "member text, undecided at the 10-business-day deadline")
				}}
			got, decided, err := r.store.DecideReview(ctx, rv.ID, d)
			if err != nil {
				return err
			}
			if decided {
				r.log.Info("possible opt-out treated as an opt-out at its deadline", zap.String("review_id", got.ID),
					zap.String("outcome", got.Outcome), logging.Address("from", got.Address))
			}
		}
		if len(due) < 100 {
			return nil
		}
	}
}
