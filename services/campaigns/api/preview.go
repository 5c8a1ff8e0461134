package api

import (
	"context"
	"encoding/base64"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/contacts"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/sender"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/phone"
	"github.com/musterhq/muster/shared/sms"
	"github.com/musterhq/muster/shared/web"
)

// PreviewRequest names whom to preview for: a contact (fetched from
// contacts) or sample data, and which part of the campaign.
type PreviewRequest struct {
	ContactID string `json:"contact_id"`
	// Sample stands in for the member when no contact is named or
	// contacts does not answer.
	Sample *events.Member `json:"sample"`
	// Part is main (default), reminder, update, cancel, yes, no, signed
	// or called.
	Part campaign.Part `json:"part"`
}

// SMSPreview is a text as the member would get it, and what it costs.
type SMSPreview struct {
	Body   string     `json:"body"`
	Length sms.Length `json:"length"`
	// Plain is the text with curly quotes and long dashes made plain,
	// offered when that saves segments.
	Plain *PlainSuggestion `json:"plain,omitempty"`
}

// PlainSuggestion is the cheaper form of a text.
type PlainSuggestion struct {
	Body   string     `json:"body"`
	Length sms.Length `json:"length"`
}

// EmailPreview is an email as the member would get it.
type EmailPreview struct {
	To          string           `json:"to"`
	Subject     string           `json:"subject"`
	Text        string           `json:"text"`
	HTML        string           `json:"html"`
	Attachments []AttachmentInfo `json:"attachments"`
}

// AttachmentInfo describes an attachment without its content.
type AttachmentInfo struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Bytes       int    `json:"bytes"`
}

// Preview is a campaign part rendered for one member.
type Preview struct {
	Member events.Member `json:"member"`
	// MemberSource is contacts (the member as stored) or sample.
	MemberSource string        `json:"member_source"`
	Language     string        `json:"language"`
	Part         campaign.Part `json:"part"`
	SMS          *SMSPreview   `json:"sms,omitempty"`
	Email        *EmailPreview `json:"email,omitempty"`
	Warnings     []string      `json:"warnings"`
}

func validPart(c *campaign.Campaign, p campaign.Part) error {
	switch p {
	case campaign.PartMain:
		return nil
	case campaign.PartReminder, campaign.PartUpdate, campaign.PartCancel, campaign.PartYes, campaign.PartNo:
		if c.Kind == campaign.KindMeeting {
			return nil
		}
	case campaign.PartSigned, campaign.PartCalled:
		if c.Kind == campaign.KindPetition {
			return nil
		}
	}
	return apperr.Invalid("part", "%q is not a part of this %s campaign", p, c.Kind)
}

// sampleMember fills what a sample leaves out, so a preview shows merge
// fields filled rather than their defaults.
func sampleMember(m events.Member) events.Member {
	if m.ContactID == "" {
		m.ContactID = sender.PreviewContactID
	}
	if m.FirstName == "" && m.LastName == "" {
		m.FirstName, m.LastName = "Alex", "Rivera"
	}
	if m.Phone == "" {
		m.Phone = "+12125550100"
	}
	if m.Email == "" {
		m.Email = "alex@example.org"
	}
	return m
}

// member finds the member to preview for: from contacts when a contact is
// named and contacts answers, else the sample.
func (h *Handler) member(ctx context.Context, contactID string, sample *events.Member) (events.Member, string, error) {
	var s events.Member
	if sample != nil {
		s = *sample
	}
	if contactID == "" {
		return sampleMember(s), "sample", nil
	}
	m, err := h.Contacts.Member(ctx, contactID)
	switch {
	case err == nil:
		// The real contact id is kept: preview links are never recorded
		// (see the link pages), and the preview shows the member as is.
		return m, "contacts", nil
	case errors.Is(err, contacts.ErrNotAnswered):
		s.ContactID = contactID
		return sampleMember(s), "sample", nil
	default:
		return events.Member{}, "", err
	}
}

func (h *Handler) preview(w http.ResponseWriter, r *http.Request) {
	var req PreviewRequest
	if err := decodeOptional(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Part == "" {
		req.Part = campaign.PartMain
	}
	ctx := r.Context()
	c, err := h.Store.Get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validPart(&c, req.Part); err != nil {
		h.fail(w, r, err)
		return
	}
	m, source, err := h.member(ctx, req.ContactID, req.Sample)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// Links in a preview are made for the preview contact, never the
	// member's own: following one records nothing.
	linkM := m
	linkM.ContactID = sender.PreviewContactID
	now := h.Clock()
	b, err := message.New(&c, req.Part, 0, "", h.Settings, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lang, _ := c.ContentFor(m.Language)
	p := Preview{Member: m, MemberSource: source, Language: lang, Part: req.Part, Warnings: []string{}}
	for _, ch := range c.Channel.List() {
		if !b.Has(ch) {
			continue
		}
		if ch == events.ChannelEmail && m.Email == "" {
			p.Warnings = append(p.Warnings, "the member has no email address; they will get no email")
		}
		if ch == events.ChannelSMS && m.Phone == "" {
			p.Warnings = append(p.Warnings, "the member has no phone number; they will get no text")
		}
		msg := b.BuildKeyed(&linkM, ch, "preview", now)
		if ch == events.ChannelSMS {
			p.SMS = smsPreview(msg.Body)
			if n := len([]rune(msg.Body)); n > campaign.MaxBody {
				p.Warnings = append(p.Warnings, "the text is over the 1,600-character limit once filled in")
			}
			if req.Part == campaign.PartMain {
				p.Warnings = append(p.Warnings, campaign.Lint(msg.Body, h.Settings.Name())...)
			}
			continue
		}
		e := &EmailPreview{To: m.Email, Subject: msg.Subject, Text: msg.Body, HTML: msg.HTML, Attachments: []AttachmentInfo{}}
		for _, a := range msg.Attachments {
			raw, _ := base64.StdEncoding.DecodeString(a.Content)
			e.Attachments = append(e.Attachments, AttachmentInfo{Filename: a.Filename, ContentType: a.ContentType, Bytes: len(raw)})
		}
		p.Email = e
	}
	web.WriteJSON(w, http.StatusOK, p)
}

func smsPreview(body string) *SMSPreview {
	out := &SMSPreview{Body: body, Length: sms.Measure(body)}
	if plain := sms.Plain(body); plain != body {
		l := sms.Measure(plain)
		if l.Segments < out.Length.Segments || l.Encoding != out.Length.Encoding {
			out.Plain = &PlainSuggestion{Body: plain, Length: l}
		}
	}
	return out
}

// TestRequest sends a campaign part to an organizer's own phone or email
// before launch.
type TestRequest struct {
	Phone     string         `json:"phone"`
	Email     string         `json:"email"`
	ContactID string         `json:"contact_id"`
	Sample    *events.Member `json:"sample"`
	Part      campaign.Part  `json:"part"`
}

// TestSubjectPrefix starts a test email's subject.
const TestSubjectPrefix = "[Test] "

// TestSent is one test message published.
type TestSent struct {
	Channel        events.Channel `json:"channel"`
	To             string         `json:"to"`
	IdempotencyKey string         `json:"idempotency_key"`
	Body           string         `json:"body"`
	Subject        string         `json:"subject,omitempty"`
}

var (
	emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// testSend publishes the part, rendered for the member or sample, to the
// given address through delivery under a test-scoped key: every rule
// delivery applies (suppression, quiet hours) applies to tests too.
func (h *Handler) testSend(w http.ResponseWriter, r *http.Request) {
	var req TestRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Part == "" {
		req.Part = campaign.PartMain
	}
	req.Phone, req.Email = strings.TrimSpace(req.Phone), strings.ToLower(strings.TrimSpace(req.Email))
	switch {
	case req.Phone == "" && req.Email == "":
		h.fail(w, r, apperr.Invalid("phone", "give a phone number or an email to send the test to"))
		return
	case req.Phone != "":
		// Any format an import takes ("(212) 555-1990") is taken here.
		p, err := phone.Parse(req.Phone, h.cfg.Region)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		req.Phone = p
	}
	if req.Email != "" && !emailRe.MatchString(req.Email) {
		h.fail(w, r, apperr.Invalid("email", "is not an email address"))
		return
	}
	ctx := r.Context()
	c, err := h.Store.Get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := validPart(&c, req.Part); err != nil {
		h.fail(w, r, err)
		return
	}
	m, _, err := h.member(ctx, req.ContactID, req.Sample)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	m.ContactID, m.Phone, m.Email = sender.TestContactID, req.Phone, req.Email
	now := h.Clock()
	b, err := message.New(&c, req.Part, sender.TestStep, "", h.Settings, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	nonce := events.NewID()[:12]
	sent := []TestSent{}
	for _, ch := range c.Channel.List() {
		if !b.Has(ch) || (ch == events.ChannelSMS && m.Phone == "") || (ch == events.ChannelEmail && m.Email == "") {
			continue
		}
		msg := b.BuildKeyed(&m, ch, sender.TestKey(c.ID, nonce, ch), now)
		msg.Urgent = true // a test is for the organizer's own phone, now
		if ch == events.ChannelEmail {
			// The inbox says it is a test, so nobody takes it for the send.
			msg.Subject = TestSubjectPrefix + msg.Subject
		}
		if err := h.Sender.Send(ctx, msg); err != nil {
			h.fail(w, r, apperr.Unavailable(err, "could not hand the test to delivery"))
			return
		}
		sent = append(sent, TestSent{Channel: ch, To: msg.To, IdempotencyKey: msg.IdempotencyKey, Body: msg.Body, Subject: msg.Subject})
	}
	if len(sent) == 0 {
		h.fail(w, r, apperr.Invalid("phone", "the campaign sends on %s; give an address for it", c.Channel))
		return
	}
	h.Log.Info("test sent", zap.String("campaign_id", c.ID), zap.Int("messages", len(sent)))
	web.WriteJSON(w, http.StatusAccepted, map[string]any{"sent": sent})
}

// ChannelEstimate is one channel's audience and how long sending takes.
type ChannelEstimate struct {
	// Reachable members will be sent to: they have an address and it is
	// not opted out.
	Reachable int `json:"reachable"`
	// OptedOut and NoAddress are the audience members this channel will
	// miss; null while contacts does not answer contacts.audience.count.
	OptedOut  *int64       `json:"opted_out"`
	NoAddress *int64       `json:"no_address"`
	Segments  int          `json:"segments,omitempty"`
	Encoding  sms.Encoding `json:"encoding,omitempty"`
	Seconds   float64      `json:"seconds"`
}

// Estimate is what a launch would do.
type Estimate struct {
	Channels map[events.Channel]*ChannelEstimate `json:"channels"`
	// Total is the audience size on any channel (null as above).
	Total *int64 `json:"total"`
	// Excluded counts audience members no channel of the campaign
	// reaches (null as above).
	Excluded *int64 `json:"excluded"`
	// EstimatedSeconds is the send time at the configured sender rates;
	// quiet hours and frequency caps can stretch it.
	EstimatedSeconds float64   `json:"estimated_seconds"`
	EstimatedFinish  time.Time `json:"estimated_finish"`
	SMSRate          float64   `json:"sms_segments_per_second"`
	EmailRate        float64   `json:"emails_per_second"`
	Notes            []string  `json:"notes"`
}

func (h *Handler) estimate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := h.Store.Get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	est := Estimate{Channels: map[events.Channel]*ChannelEstimate{}, SMSRate: h.cfg.SMSRate, EmailRate: h.cfg.EmailRate, Notes: []string{}}
	count, err := h.Contacts.Count(ctx, c.Audience)
	counted := err == nil
	if err != nil && !errors.Is(err, contacts.ErrNotAnswered) {
		h.fail(w, r, err)
		return
	}
	if !counted {
		est.Notes = append(est.Notes, "contacts does not answer contacts.audience.count yet: opted-out and unreachable members are not counted")
	}
	b, err := message.New(&c, campaign.PartMain, 0, "", h.Settings, h.Clock())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, ch := range c.Channel.List() {
		n, err := h.Contacts.Reachable(ctx, c.Audience, ch)
		if err != nil {
			if apperr.KindOf(err) != apperr.KindInvalid {
				err = apperr.Unavailable(err, "cannot reach contacts to count the audience")
			}
			h.fail(w, r, err)
			return
		}
		ce := &ChannelEstimate{Reachable: n}
		cc := count.SMS
		if ch == events.ChannelEmail {
			cc = count.Email
		}
		if counted {
			ce.OptedOut, ce.NoAddress = &cc.OptedOut, &cc.NoAddress
		}
		if ch == events.ChannelSMS {
			m := sampleMember(events.Member{})
			l := sms.Measure(b.BuildKeyed(&m, ch, "preview", h.Clock()).Body)
			ce.Segments, ce.Encoding = l.Segments, l.Encoding
			ce.Seconds = rateSeconds(float64(n*l.Segments), h.cfg.SMSRate)
		} else {
			ce.Seconds = rateSeconds(float64(n), h.cfg.EmailRate)
		}
		est.Channels[ch] = ce
		est.EstimatedSeconds = math.Max(est.EstimatedSeconds, ce.Seconds)
	}
	if counted {
		total := count.Total
		est.Total = &total
		var excluded int64
		switch c.Channel {
		case campaign.ChannelsSMS:
			excluded = count.SMS.OptedOut + count.SMS.NoAddress
		case campaign.ChannelsEmail:
			excluded = count.Email.OptedOut + count.Email.NoAddress
		default:
			// A member is missed only if neither channel reaches them; the
			// count does not say how the two overlap, so this is the
			// smaller of the two, a floor.
			excluded = min(count.SMS.OptedOut+count.SMS.NoAddress, count.Email.OptedOut+count.Email.NoAddress)
		}
		est.Excluded = &excluded
	}
	start := h.Clock()
	if c.ScheduledAt != nil && c.ScheduledAt.After(start) {
		start = *c.ScheduledAt
	}
	est.EstimatedFinish = start.Add(time.Duration(est.EstimatedSeconds * float64(time.Second))).UTC()
	est.Notes = append(est.Notes, "texts are held outside 08:00-21:00 member-local time and by frequency caps; the estimate counts neither")
	web.WriteJSON(w, http.StatusOK, est)
}

func rateSeconds(units, rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return math.Round(units/rate*10) / 10
}
