// Package inbound acts on members' replies. A reply that answers one of
// the member's recent campaigns (a YES or NO to a meeting, a petition's
// SIGN or CALLED) is recorded and answered with the campaign's auto-reply
// through delivery; everything else goes to the inbox for a person. The
// compliance keywords delivery already handled (STOP, START, HELP) are
// counted, never read as answers.
package inbound

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/reply"
	"github.com/musterhq/muster/services/campaigns/results"
	"github.com/musterhq/muster/services/campaigns/sender"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Sender publishes one send request.
type Sender interface {
	Send(ctx context.Context, req events.SendRequested) error
}

// Router routes replies.
type Router struct {
	store    *store.Store
	send     Sender
	settings message.Settings
	clock    func() time.Time
	window   time.Duration
	hub      results.Notifier
	log      *zap.Logger
}

// New builds a router. window is how far back a member's campaigns are
// candidates for a reply (meetings still to come always are).
func New(st *store.Store, send Sender, settings message.Settings, clock func() time.Time, window time.Duration, hub results.Notifier, log *zap.Logger) *Router {
	if clock == nil {
		clock = time.Now
	}
	if window <= 0 {
		window = 7 * 24 * time.Hour
	}
	return &Router{store: st, send: send, settings: settings, clock: clock, window: window, hub: hub, log: log}
}

// understood is what a reply answers.
type understood struct {
	c      campaign.Campaign
	part   campaign.Part
	answer string // yes, no, sign, call; a poll's label
	extra  bool
	// followUpYes is a YES to a poll's follow-up.
	followUpYes bool
}

// Handle is the handler for one inbound event. Every write is idempotent
// per event id, so a redelivered event changes nothing twice.
func (r *Router) Handle(ctx context.Context, ev events.InboundReceived) error {
	if err := r.handle(ctx, ev); err != nil {
		return stream.Retry(err, time.Second)
	}
	return nil
}

func (r *Router) handle(ctx context.Context, ev events.InboundReceived) error {
	latest := ""
	if results.IsCampaignID(ev.CampaignID) {
		latest = ev.CampaignID
	}
	if consent.Meaning(ev.Keyword).Keyword() {
		// Delivery answered it (an opt-out, HELP, PAUSE...); it counts
		// as a reply, never as an RSVP or a signature. A possible
		// opt-out is not one: it goes to the inbox like any reply.
		if latest == "" {
			return nil
		}
		if err := r.store.RecordReply(ctx, latest, ev); err != nil {
			return err
		}
		r.hub.Notify(latest)
		return nil
	}
	if consent.Meaning(ev.Keyword) == consent.Review {
		// A possible opt-out goes to a person, and is never read as an
		// answer: "yes I said stop sending these" is no RSVP.
		if latest != "" {
			if err := r.store.RecordReply(ctx, latest, ev); err != nil {
				return err
			}
		}
		if err := r.toInbox(ctx, ev, latest, "may be an opt-out: an organizer decides"); err != nil {
			return err
		}
		if latest != "" {
			r.hub.Notify(latest)
		}
		return nil
	}
	now := r.clock()
	var u *understood
	note := "not an answer to a campaign"
	if ev.ContactID != "" {
		cands, err := r.store.Candidates(ctx, ev.ContactID, now.Add(-r.window), now, 10)
		if err != nil {
			return err
		}
		for _, c := range cands {
			if c.ID == latest && c.Poll != nil {
				// The person reading it sees what the member was asked.
				note = "not an answer to the poll: " + c.Poll.Question
			}
		}
		for _, c := range cands {
			if c.Kind == campaign.KindPoll && reply.RSVP(ev.Body).Answer == reply.Yes {
				// A YES after a poll's follow-up answers the follow-up.
				waiting, err := r.store.FollowUpWaiting(ctx, c.ID, ev.ContactID)
				if err != nil {
					return err
				}
				if waiting {
					u = &understood{c: c, answer: "yes", followUpYes: true}
					break
				}
			}
			if x, ok := understand(c, ev.Body, now); ok {
				u = &x
				break
			}
		}
	}
	if u == nil {
		if latest != "" {
			if err := r.store.RecordReply(ctx, latest, ev); err != nil {
				return err
			}
		}
		if err := r.toInbox(ctx, ev, latest, note); err != nil {
			return err
		}
		if latest != "" {
			r.hub.Notify(latest)
		}
		return nil
	}
	if err := r.store.RecordReply(ctx, u.c.ID, ev); err != nil {
		return err
	}
	member, known, err := r.store.Recipient(ctx, u.c.ID, ev.ContactID)
	if err != nil {
		return err
	}
	if !known {
		member = events.Member{ContactID: ev.ContactID}
	}
	a := store.Answer{
		CampaignID: u.c.ID, ContactID: ev.ContactID, Answer: u.answer, Channel: string(ev.Channel), Source: store.SourceReply,
		EventID: ev.ID, At: ev.OccurredAt, FirstName: member.FirstName, LastName: member.LastName,
	}
	if a.At.IsZero() {
		a.At = now
	}
	if u.c.Kind == campaign.KindPoll {
		return r.pollAnswer(ctx, u, &member, ev, a, now)
	}
	var mine bool
	if u.c.Kind == campaign.KindMeeting {
		mine, err = r.store.RecordRSVP(ctx, a)
	} else {
		mine, err = r.store.RecordAction(ctx, a)
	}
	if err != nil {
		return err
	}
	if mine {
		// The auto-reply answers on the channel the reply came by: a
		// reply by email has no phone to text.
		member.Phone, member.Email = ev.From, ""
		if ev.Channel == events.ChannelEmail {
			member.Phone, member.Email = "", ev.From
		}
		if err := r.autoReply(ctx, u, &member, ev, now); err != nil {
			return err
		}
	}
	if u.extra {
		if err := r.toInbox(ctx, ev, u.c.ID, "answered "+u.answer+", and says more"); err != nil {
			return err
		}
	}
	r.hub.Notify(u.c.ID)
	r.log.Info("reply understood", zap.String("campaign_id", u.c.ID), zap.String("contact_id", ev.ContactID),
		zap.String("answer", u.answer), zap.Bool("changed", mine))
	return nil
}

// understand reads a reply against one campaign.
func understand(c campaign.Campaign, body string, now time.Time) (understood, bool) {
	switch {
	case c.Kind == campaign.KindMeeting && c.Meeting != nil:
		if !now.Before(c.Meeting.EndsAt()) {
			return understood{}, false
		}
		m := reply.RSVP(body)
		switch m.Answer {
		case reply.Yes:
			return understood{c: c, part: campaign.PartYes, answer: "yes", extra: m.Extra}, true
		case reply.No:
			return understood{c: c, part: campaign.PartNo, answer: "no", extra: m.Extra}, true
		}
	case c.Kind == campaign.KindPoll && c.Poll != nil:
		i, m := reply.MatchChoice(body, PollChoices(c.Poll))
		if i >= 0 {
			return understood{c: c, part: campaign.PartFollowUp, answer: c.Poll.Labels()[i], extra: m.Extra}, true
		}
	case c.Kind == campaign.KindPetition && c.Petition != nil:
		p := c.Petition
		if p.Ask.Signs() {
			if m := reply.Keyword(body, p.Keyword); m.Answer == reply.Yes {
				return understood{c: c, part: campaign.PartSigned, answer: "sign", extra: m.Extra}, true
			}
		}
		if p.Ask.Calls() && p.Call != nil {
			if m := reply.Keyword(body, p.Call.Keyword); m.Answer == reply.Yes {
				return understood{c: c, part: campaign.PartCalled, answer: "call", extra: m.Extra}, true
			}
		}
	}
	return understood{}, false
}

// autoReply answers a member's text with the campaign's reply for what
// they said (an RSVP, a signature).
func (r *Router) autoReply(ctx context.Context, u *understood, m *events.Member, ev events.InboundReceived, now time.Time) error {
	return r.reply(ctx, u, u.part, "", sender.ReplyKey(u.c.ID, ev.ID, ev.ContactID), m, ev, now)
}

// reply sends a member an answer to their own text (an auto-reply, a
// poll's follow-up) through delivery like any text. It is marked urgent
// so a member's frequency cap cannot hold back the answer to their own
// text; quiet hours and opt-outs still apply. Answers are texts (a part
// with no email says nothing by email), so an answer by email gets none:
// its RSVP, signature or poll answer is recorded, and the organizer sees
// it.
func (r *Router) reply(ctx context.Context, u *understood, part campaign.Part, text, key string, m *events.Member,
	ev events.InboundReceived, now time.Time) error {
	b, err := message.New(&u.c, part, sender.ReplyStep, text, r.settings, now)
	if err != nil {
		return err
	}
	ch := ev.Channel
	if ch == "" {
		ch = events.ChannelSMS
	}
	if !b.Has(ch) {
		return nil
	}
	req := b.BuildKeyed(m, ch, key, now)
	req.Urgent = true
	req.CorrelationID = ev.CorrelationID
	return r.send.Send(ctx, req)
}

func (r *Router) toInbox(ctx context.Context, ev events.InboundReceived, campaignID, note string) error {
	it := store.InboxItem{
		EventID: ev.ID, ContactID: ev.ContactID, Channel: string(ev.Channel), From: ev.From, To: ev.To,
		Body: ev.Body, Note: note, ReceivedAt: ev.OccurredAt,
	}
	if it.ReceivedAt.IsZero() {
		it.ReceivedAt = r.clock()
	}
	if campaignID != "" {
		it.CampaignID = &campaignID
		if ev.ContactID != "" {
			m, ok, err := r.store.Recipient(ctx, campaignID, ev.ContactID)
			if err != nil {
				return err
			}
			if ok {
				it.FirstName, it.LastName = m.FirstName, m.LastName
			}
		}
	}
	return r.store.AddInbox(ctx, it)
}

// PollChoices are the labels that name each of a poll's answers: the
// organizer's and their Spanish one; none on a scale (its numbers are its
// answers).
func PollChoices(p *campaign.Poll) reply.Choices {
	labels := p.Labels()
	out := make(reply.Choices, len(labels))
	if p.Scale > 0 {
		return out
	}
	for i, l := range labels {
		out[i] = []string{l}
		if es := p.Spanish(i); es != "" {
			out[i] = append(out[i], es)
		}
	}
	return out
}

// pollAnswer records a member's poll answer (or their YES to its
// follow-up) and sends the answer's follow-up when it has one. The
// follow-up is keyed by the answer's event: a redelivered webhook finds
// the same key and delivery sends nothing twice; a member who says the
// same again gets nothing new; a changed answer is a new event, and gets
// its own follow-up.
func (r *Router) pollAnswer(ctx context.Context, u *understood, member *events.Member, ev events.InboundReceived, a store.Answer, now time.Time) error {
	if u.followUpYes {
		if err := r.store.RecordFollowUpYes(ctx, u.c.ID, ev.ContactID, a.At); err != nil {
			return err
		}
		r.hub.Notify(u.c.ID)
		r.log.Info("yes to poll follow-up", zap.String("campaign_id", u.c.ID), zap.String("contact_id", ev.ContactID))
		return nil
	}
	mine, err := r.store.RecordPollAnswer(ctx, store.PollAnswer{CampaignID: u.c.ID, ContactID: ev.ContactID, Answer: u.answer,
		Channel: a.Channel, EventID: ev.ID, Body: ev.Body, At: a.At})
	if err != nil {
		return err
	}
	if mine {
		if text := u.c.Poll.FollowUp(u.answer, member.Language); text != "" {
			member.Phone, member.Email = ev.From, ""
			if ev.Channel == events.ChannelEmail {
				member.Phone, member.Email = "", ev.From
			}
			if err := r.followUp(ctx, u, member, ev, text, now); err != nil {
				return err
			}
			if err := r.store.MarkFollowUp(ctx, u.c.ID, ev.ContactID, ev.ID); err != nil {
				return err
			}
		}
	}
	if u.extra {
		if err := r.toInbox(ctx, ev, u.c.ID, "answered "+u.answer+", and says more"); err != nil {
			return err
		}
	}
	r.hub.Notify(u.c.ID)
	r.log.Info("poll answer", zap.String("campaign_id", u.c.ID), zap.String("contact_id", ev.ContactID),
		zap.String("answer", u.answer), zap.Bool("changed", mine))
	return nil
}

// followUp sends a poll's follow-up the way auto-replies go: through
// delivery, urgent (the member just wrote), by text.
func (r *Router) followUp(ctx context.Context, u *understood, m *events.Member, ev events.InboundReceived, text string, now time.Time) error {
	return r.reply(ctx, u, campaign.PartFollowUp, text, sender.FollowUpKey(u.c.ID, ev.ID, ev.ContactID), m, ev, now)
}
