// Package receive acts on what providers tell delivery: status callbacks
// move messages forward, and members' texts are read for keywords. A STOP
// is written to the suppression list before the webhook answers, so no
// send that starts after the answer can reach the member.
package receive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/batch"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/review"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// Publisher announces what the receiver changed.
type Publisher interface {
	Status(ctx context.Context, m store.Message)
	Statuses(ctx context.Context, ms []store.Message)
}

// Receiver acts on providers' webhooks, mapped by their provider
// packages into delivery's neutral vocabulary (package provider).
type Receiver struct {
	store  *store.Store
	pub    Publisher
	rules  func() settings.Rules
	now    func() time.Time
	log    *zap.Logger
	rhythm Rhythm // members' NIGHTS, PAUSE...: see rhythm.go
	// reports and emailEvents gather concurrent webhooks' status reports
	// and email events and write each batch in a few statements, as the
	// send path writes its outcomes: a webhook is answered only after
	// its batch committed.
	reports     *batch.Batcher[store.Outcome, store.Applied]
	emailEvents *batch.Batcher[[]provider.EmailEvent, struct{}]
}

// Batching: up to this many reports or email posts per batch, waiting at
// most this long after the first for company.
const (
	batchMax    = 500
	batchLinger = 2 * time.Millisecond
)

// New builds a receiver; RunBatches must run for status reports and email
// events to be served. rules gives the organization's current settings
// (keyword replies by language, join words); clock stamps claims and
// suppressions (nil is time.Now).
func New(st *store.Store, pub Publisher, rules func() settings.Rules, clock func() time.Time, log *zap.Logger) *Receiver {
	if clock == nil {
		clock = time.Now
	}
	r := &Receiver{store: st, pub: pub, rules: rules, now: clock, log: log}
	r.reports = batch.New(r.reportBatch, batchMax, batchLinger)
	r.emailEvents = batch.New(r.emailBatch, batchMax, batchLinger)
	return r
}

// RunBatches serves the batched writes until ctx ends.
func (r *Receiver) RunBatches(ctx context.Context) {
	go r.emailEvents.Run(ctx)
	r.reports.Run(ctx)
}

// Status applies a status report. Reports come late, out of order and
// repeated; the store lets a message move forward only. A carrier's
// opt-out suppresses the number like a STOP.
func (r *Receiver) Status(ctx context.Context, cb provider.StatusReport) error {
	id := cb.MessageID
	if id != "" && !events.IsID(id) {
		return apperr.Invalid("message_id", "not a message id")
	}
	if id == "" {
		var err error
		if id, err = r.store.MessageIDByProvider(ctx, cb.ProviderID); err != nil {
			return err
		}
	}
	a, err := r.reports.Do(ctx, store.Outcome{ID: id, Update: store.Update{
		Status: cb.Status, ProviderID: cb.ProviderID, ErrorCode: cb.ErrorCode, ProviderStatus: cb.ProviderStatus,
	}})
	if err != nil {
		return fmt.Errorf("applying status report: %w", err)
	}
	msg := a.Message
	if msg.ID == "" {
		return apperr.NotFound("no message %s", id)
	}
	if cb.OptedOut {
		return r.optOut(ctx, msg.To, "carrier opt-out", events.SourceProvider, cb.Evidence, "cb."+cb.ProviderID)
	}
	return nil
}

// reportBatch applies a batch of status reports in one statement and
// announces every message that moved, once, before any report is
// answered. A failure fails the whole batch: every webhook in it is
// answered 5xx and the providers post again.
func (r *Receiver) reportBatch(ctx context.Context, outs []store.Outcome) ([]store.Applied, error) {
	applied, err := r.store.ApplyReports(ctx, outs)
	if err != nil {
		return nil, err
	}
	r.announce(ctx, applied)
	return applied, nil
}

// announce publishes each message that moved, once, as it stands after
// the batch.
func (r *Receiver) announce(ctx context.Context, applied []store.Applied) {
	var moved []store.Message
	for _, a := range applied {
		if a.Moved {
			moved = append(moved, a.Message)
		}
	}
	if len(moved) > 0 {
		r.pub.Statuses(ctx, moved)
	}
}

// Inbound reads a member's text and returns the reply to send, if any.
//
// The message's id is claimed before anything acts on it. A message
// already handled (the provider retrying, or a captured, signed webhook replayed
// later) is answered as the first time and changes nothing; a claim an
// earlier try left unhandled is finished with that try's time, so what the
// message does is judged by when delivery first received it.
//
// A text whose words alone make it an opt-out (nothing the database holds
// changes what a STOP means) is claimed and recorded, and its member
// suppressed, in one round trip and one commit (stop). Any other text
// takes two: the claim with what is known of the sender, then the record.
func (r *Receiver) Inbound(ctx context.Context, in provider.Inbound) (string, error) {
	rules := r.rules()
	words := rules.Reader.Read(in.Body)
	if rd := withProvider(words, in, false); rd.Meaning == consent.OptOut {
		reply, recorded, err := r.stop(ctx, in, rd, rules)
		if err != nil || recorded {
			return reply, err
		}
		// Claimed before: answered, or finished, the general way.
	}
	rec := store.Inbound{ProviderID: in.ProviderID, Channel: string(events.ChannelSMS), From: in.From, To: in.To, Body: in.Body}
	arrival, err := r.store.ClaimArrival(ctx, rec, r.now())
	if err != nil {
		return "", err
	}
	claim, suppressed, out := arrival.Claim, arrival.Suppressed, arrival.Latest
	if claim.Handled {
		return claim.Reply, nil
	}
	rd := withProvider(words, in, suppressed)
	// The provider's own opt-out handling already answered this keyword:
	// act on it, do not confirm a second time (a second reply to an
	// opted-out number would fail).
	providerAnswered := in.Answered != ""
	replies := rules.In(replyLanguage(rd.Lang, out.Language))
	var reply string
	switch rd.Meaning {
	case consent.OptOut:
		// Suppressed with the record, below.
	case consent.OptIn, consent.Join:
		lifted, err := r.resubscribe(ctx, in, rd, claim.ReceivedAt)
		if err != nil {
			return "", err
		}
		if suppressed && !lifted {
			r.log.Info("opt-in older than the opt-out; suppression kept", logging.Phone("from", in.From))
		}
		switch {
		case providerAnswered:
		case rd.Meaning == consent.Join && (lifted || !suppressed):
			reply = replies.Welcome
		case lifted:
			reply = replies.OptIn
		}
	case consent.Help:
		if !providerAnswered && !suppressed {
			reply = r.withLink(replies.Help, in.From)
		} else if !providerAnswered {
			reply = replies.Help
		}
	case consent.Nights, consent.Days, consent.Pause, consent.Resume, consent.Less, consent.More, consent.Prefs:
		if reply, err = r.applyRhythm(ctx, in, rd, claim.ReceivedAt, suppressed); err != nil {
			return "", err
		}
	}
	rec.ID, rec.Keyword, rec.Reason, rec.CampaignID, rec.ContactID, rec.Reply = claim.ID, string(rd.Meaning), rd.Reason, out.CampaignID, out.ContactID, reply
	if rd.Meaning == consent.Review {
		// Might be an opt-out: an organizer decides, by the deadline
		// counted from when delivery first received it.
		due, warn := review.Deadline(claim.ReceivedAt, rules.Zone)
		rec.Review = &store.ReviewDeadline{DueAt: due, WarnAt: warn}
	}
	announce := r.inboundEvent(in, rd.Meaning)
	announce.CampaignID, announce.ContactID = out.CampaignID, out.ContactID
	var (
		done     store.Inbound
		recorded bool
	)
	if rd.Meaning == consent.OptOut {
		// The suppression and the record commit together; the reply
		// confirms the STOP only when it added the number.
		confirm := replies.OptOut
		if providerAnswered {
			confirm = ""
		}
		var added bool
		done, added, recorded, err = r.store.RecordOptOut(ctx, rec, r.stopSuppression(in, rd, claim.ReceivedAt), r.now(), announce, confirm)
		if err == nil && recorded {
			reply = done.Reply
			r.log.Info("number opted out", logging.Phone("from", in.From), zap.String("reason", rd.Reason), zap.Bool("new", added))
		}
	} else {
		done, recorded, err = r.store.RecordInbound(ctx, rec, r.now(), announce)
	}
	if err != nil {
		return "", err
	}
	if !recorded {
		// A concurrent delivery of the same webhook finished first: answer
		// as it did. What both did to the suppression list (a STOP's
		// committed with each one's record) is idempotent.
		return done.Reply, nil
	}
	return reply, nil
}

// stop records a text whose words alone make it an opt-out (a STOP, or
// whatever the provider's own opt-out handling answered as one) in one
// round trip, store.RecordStop: the member is suppressed, and the STOP
// answered, after the database's one commit. recorded is false when the
// message was claimed before; the caller then takes the general way.
func (r *Receiver) stop(ctx context.Context, in provider.Inbound, rd consent.Reading, rules settings.Rules) (string, bool, error) {
	at := r.now()
	rec := store.Inbound{ProviderID: in.ProviderID, Channel: string(events.ChannelSMS), From: in.From, To: in.To,
		Body: in.Body, Keyword: string(rd.Meaning), Reason: rd.Reason}
	confirm := store.Confirmation{English: rules.In(consent.English).OptOut, Spanish: rules.In(consent.Spanish).OptOut,
		SpanishText: rd.Lang == consent.Spanish}
	if in.Answered != "" {
		// The provider's own opt-out handling already answered: a second
		// reply to an opted-out number would fail.
		confirm = store.Confirmation{}
	}
	done, added, recorded, err := r.store.RecordStop(ctx, rec, r.stopSuppression(in, rd, at), at, r.inboundEvent(in, rd.Meaning), confirm)
	if err != nil || !recorded {
		return "", false, err
	}
	r.log.Info("number opted out", logging.Phone("from", in.From), zap.String("reason", rd.Reason), zap.Bool("new", added))
	return done.Reply, true, nil
}

// inboundEvent announces a member's text read as meaning; its id is the
// provider's message id, so announcing it again stores it once.
func (r *Receiver) inboundEvent(in provider.Inbound, meaning consent.Meaning) *events.InboundReceived {
	return &events.InboundReceived{
		Meta:       events.KeyedMeta("in."+in.ProviderID, events.TypeInboundReceived, in.ProviderID, r.now()),
		ProviderID: in.ProviderID, Channel: events.ChannelSMS, From: in.From, To: in.To, Body: in.Body, Keyword: string(meaning),
	}
}

// withProvider settles what a text means given what the provider's own
// opt-out handling said of it (its keyword decides, whatever the words)
// and whether the sender is opted out: YES is an opt-in only for a member
// who is, and a campaign reply (an RSVP) for everyone else.
func withProvider(rd consent.Reading, in provider.Inbound, suppressed bool) consent.Reading {
	switch in.Answered {
	case provider.AnsweredStop:
		if rd.Meaning != consent.OptOut {
			rd.Meaning, rd.Reason = consent.OptOut, in.AnsweredBy
		}
	case provider.AnsweredStart:
		rd.Meaning, rd.Reason = consent.OptIn, in.AnsweredBy
	case provider.AnsweredHelp:
		rd.Meaning, rd.Reason = consent.Help, in.AnsweredBy
	}
	if rd.Meaning == consent.Yes {
		if suppressed {
			rd.Meaning = consent.OptIn
		} else {
			rd.Meaning = consent.None
		}
	}
	return rd
}

// replyLanguage is the member's language for a keyword reply: the words
// they texted when those were Spanish, else the language they were last
// written to in.
func replyLanguage(textLang, memberLang string) string {
	if textLang == consent.Spanish || strings.HasPrefix(memberLang, consent.Spanish) {
		return consent.Spanish
	}
	return consent.English
}

// stopSuppression is a member's opt-out as of at, when delivery first
// received it.
func (r *Receiver) stopSuppression(in provider.Inbound, rd consent.Reading, at time.Time) store.Suppression {
	reason := "member texted " + strings.ToUpper(strings.TrimSpace(in.Body))
	if rd.Reason != "" && !strings.EqualFold(rd.Reason, strings.TrimSpace(in.Body)) {
		reason = "member text: " + rd.Reason
	}
	evidence := fmt.Sprintf("%s (%s)", in.Body, in.ProviderID)
	return store.Suppression{
		Channel: string(events.ChannelSMS), Address: in.From, Reason: reason, Source: events.SourceInboundSMS,
		Evidence: evidence, At: at,
		Announce: consent.Change{
			Channel: events.ChannelSMS, Address: in.From, Change: events.ConsentOptedOut, Source: events.SourceInboundSMS,
			Evidence: in.Body, Reason: rd.Reason, At: at, Key: "stop." + in.ProviderID, Correlation: in.ProviderID,
		}.Event(r.now()),
		AnnounceRepeat: true,
	}
}

// resubscribe lifts a member's opt-out on their own opt-in (START, or the
// join keyword), received at at; an opt-in older than the opt-out lifts
// nothing (see store.Unsuppress). A join is announced even when there was
// nothing to lift: it is the member's opt-in evidence, and contacts adds
// a member it does not know.
func (r *Receiver) resubscribe(ctx context.Context, in provider.Inbound, rd consent.Reading, at time.Time) (bool, error) {
	change := consent.Change{
		Channel: events.ChannelSMS, Address: in.From, Change: events.ConsentResubscribe, Source: events.SourceInboundSMS,
		Evidence: fmt.Sprintf("%s (%s)", in.Body, in.ProviderID), At: at, Key: "start." + in.ProviderID, Correlation: in.ProviderID,
	}
	if rd.Meaning == consent.Join {
		change.Change, change.Source, change.Key = events.ConsentSubscribed, events.SourceJoinKeyword, "join."+in.ProviderID
	}
	lifted, err := r.store.Unsuppress(ctx, string(events.ChannelSMS), in.From, at, change.Event(r.now()))
	if err != nil {
		return false, err
	}
	if lifted {
		r.log.Info("number opted back in", logging.Phone("from", in.From), zap.String("by", rd.Reason))
	}
	if !lifted && rd.Meaning == consent.Join {
		if err := r.store.Announce(ctx, events.SubjectConsentChanged, change.Event(r.now())); err != nil {
			return false, err
		}
	}
	return lifted, nil
}

// optOut suppresses an address on a provider's word.
func (r *Receiver) optOut(ctx context.Context, addr, reason, source, evidence, eventID string) error {
	at := r.now()
	_, err := r.store.Suppress(ctx, store.Suppression{
		Channel: string(events.ChannelSMS), Address: addr, Reason: reason, Source: source, Evidence: evidence, At: at,
		Announce: consent.Change{
			Channel: events.ChannelSMS, Address: addr, Change: events.ConsentOptedOut, Source: source, Evidence: evidence, At: at, Key: eventID,
		}.Event(at),
	})
	return err
}
