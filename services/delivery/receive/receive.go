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

	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/review"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// Publisher announces what the receiver changed.
type Publisher interface {
	Status(ctx context.Context, m store.Message)
}

// Receiver implements twilio.Receiver.
type Receiver struct {
	store  *store.Store
	pub    Publisher
	rules  func() settings.Rules
	now    func() time.Time
	log    *zap.Logger
	rhythm Rhythm // members' NIGHTS, PAUSE...: see rhythm.go
}

// New builds a receiver. rules gives the organization's current settings
// (keyword replies by language, join words); clock stamps claims and
// suppressions (nil is time.Now).
func New(st *store.Store, pub Publisher, rules func() settings.Rules, clock func() time.Time, log *zap.Logger) *Receiver {
	if clock == nil {
		clock = time.Now
	}
	return &Receiver{store: st, pub: pub, rules: rules, now: clock, log: log}
}

// carrierOptOut is Twilio's code for a recipient who replied STOP at the
// carrier; it suppresses like a STOP to us.
const carrierOptOut = "21610"

// Status applies a status callback. Callbacks come late, out of order and
// repeated; the store lets a message move forward only.
func (r *Receiver) Status(ctx context.Context, cb twilio.StatusCallback) error {
	st, ok := status.FromTwilio(cb.Status)
	if !ok {
		return apperr.Invalid("MessageStatus", "unknown status %q", cb.Status)
	}
	id := cb.MessageID
	if id != "" && !events.IsID(id) {
		return apperr.Invalid("message_id", "not a message id")
	}
	if id == "" {
		var err error
		if id, err = r.store.MessageIDByProvider(ctx, cb.MessageSID); err != nil {
			return err
		}
	}
	msg, moved, err := r.store.Apply(ctx, id, store.Update{
		Status: st, ProviderID: cb.MessageSID, ErrorCode: cb.ErrorCode, ProviderStatus: cb.Status,
	})
	if err != nil {
		return err
	}
	if moved {
		r.pub.Status(ctx, msg)
	}
	if cb.ErrorCode == carrierOptOut {
		return r.optOut(ctx, msg.To, "carrier opt-out", events.SourceProvider, "twilio error 21610 on "+cb.MessageSID, "cb."+cb.MessageSID)
	}
	return nil
}

// Inbound reads a member's text and returns the reply to send, if any.
//
// The message's id is claimed before anything acts on it. A message
// already handled (Twilio retrying, or a captured, signed webhook replayed
// later) is answered as the first time and changes nothing; a claim an
// earlier try left unhandled is finished with that try's time, so what the
// message does is judged by when delivery first received it.
func (r *Receiver) Inbound(ctx context.Context, in twilio.Inbound) (string, error) {
	rec := store.Inbound{ProviderID: in.MessageSID, Channel: string(events.ChannelSMS), From: in.From, To: in.To, Body: in.Body}
	claim, err := r.store.ClaimInbound(ctx, rec, r.now())
	if err != nil {
		return "", err
	}
	if claim.Handled {
		return claim.Reply, nil
	}
	rules := r.rules()
	rd := rules.Reader.Read(in.Body)
	suppressed, err := r.store.IsSuppressed(ctx, string(events.ChannelSMS), in.From)
	if err != nil {
		return "", err
	}
	out, err := r.store.LatestOutbound(ctx, string(events.ChannelSMS), in.From)
	if err != nil {
		return "", err
	}
	rd = withProvider(rd, in.OptOutType, suppressed)
	// Twilio's Advanced Opt-Out already answered this keyword: act on it,
	// do not confirm a second time (a second reply would fail with 21610).
	providerAnswered := in.OptOutType != ""
	replies := rules.In(replyLanguage(rd.Lang, out.Language))
	var reply string
	switch rd.Meaning {
	case consent.OptOut:
		added, err := r.suppress(ctx, in, rd, claim.ReceivedAt)
		if err != nil {
			return "", err
		}
		if added && !providerAnswered {
			reply = replies.OptOut
		}
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
	done, recorded, err := r.store.RecordInbound(ctx, rec, r.now(), &events.InboundReceived{
		Meta:       events.KeyedMeta("in."+in.MessageSID, events.TypeInboundReceived, in.MessageSID, r.now()),
		ProviderID: in.MessageSID, Channel: events.ChannelSMS, From: in.From, To: in.To, Body: in.Body,
		Keyword: string(rd.Meaning), CampaignID: out.CampaignID, ContactID: out.ContactID,
	})
	if err != nil {
		return "", err
	}
	if !recorded {
		// A concurrent delivery of the same webhook finished first: answer
		// as it did. What both did to the suppression list is idempotent.
		return done.Reply, nil
	}
	return reply, nil
}

// withProvider settles what a text means given what Twilio's Advanced
// Opt-Out said of it (its OptOutType decides, whatever the words) and
// whether the sender is opted out: YES is an opt-in only for a member who
// is, and a campaign reply (an RSVP) for everyone else.
func withProvider(rd consent.Reading, optOutType string, suppressed bool) consent.Reading {
	switch strings.ToUpper(optOutType) {
	case "STOP":
		if rd.Meaning != consent.OptOut {
			rd.Meaning, rd.Reason = consent.OptOut, "Twilio Advanced Opt-Out (OptOutType STOP)"
		}
	case "START":
		rd.Meaning, rd.Reason = consent.OptIn, "Twilio Advanced Opt-Out (OptOutType START)"
	case "HELP":
		rd.Meaning, rd.Reason = consent.Help, "Twilio Advanced Opt-Out (OptOutType HELP)"
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

// suppress records a member's opt-out as of at, when delivery first
// received it.
func (r *Receiver) suppress(ctx context.Context, in twilio.Inbound, rd consent.Reading, at time.Time) (bool, error) {
	reason := "member texted " + strings.ToUpper(strings.TrimSpace(in.Body))
	if rd.Reason != "" && !strings.EqualFold(rd.Reason, strings.TrimSpace(in.Body)) {
		reason = "member text: " + rd.Reason
	}
	evidence := fmt.Sprintf("%s (%s)", in.Body, in.MessageSID)
	added, err := r.store.Suppress(ctx, store.Suppression{
		Channel: string(events.ChannelSMS), Address: in.From, Reason: reason, Source: events.SourceInboundSMS,
		Evidence: evidence, At: at,
		Announce: consent.Change{
			Channel: events.ChannelSMS, Address: in.From, Change: events.ConsentOptedOut, Source: events.SourceInboundSMS,
			Evidence: in.Body, Reason: rd.Reason, At: at, Key: "stop." + in.MessageSID, Correlation: in.MessageSID,
		}.Event(r.now()),
		AnnounceRepeat: true,
	})
	if err != nil {
		return false, err
	}
	r.log.Info("number opted out", logging.Phone("from", in.From), zap.String("reason", rd.Reason), zap.Bool("new", added))
	return added, nil
}

// resubscribe lifts a member's opt-out on their own opt-in (START, or the
// join keyword), received at at; an opt-in older than the opt-out lifts
// nothing (see store.Unsuppress). A join is announced even when there was
// nothing to lift: it is the member's opt-in evidence, and contacts adds
// a member it does not know.
func (r *Receiver) resubscribe(ctx context.Context, in twilio.Inbound, rd consent.Reading, at time.Time) (bool, error) {
	change := consent.Change{
		Channel: events.ChannelSMS, Address: in.From, Change: events.ConsentResubscribe, Source: events.SourceInboundSMS,
		Evidence: fmt.Sprintf("%s (%s)", in.Body, in.MessageSID), At: at, Key: "start." + in.MessageSID, Correlation: in.MessageSID,
	}
	if rd.Meaning == consent.Join {
		change.Change, change.Source, change.Key = events.ConsentSubscribed, events.SourceJoinKeyword, "join."+in.MessageSID
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
