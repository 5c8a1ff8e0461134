// Package message turns a campaign, one of its parts (the alert, a
// reminder, an auto-reply) and one member into the send request delivery
// gets: the member's language chosen with fallback, merge fields filled,
// signed links made, the meeting's calendar file attached to email. A
// Builder is made once per part and reused for every member, because the
// fan-out builds a hundred thousand requests a campaign.
package message

import (
	"encoding/base64"
	"fmt"
	"html"
	"slices"
	"strings"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/ics"
	"github.com/musterhq/muster/services/campaigns/template"
	"github.com/musterhq/muster/services/campaigns/token"
	"github.com/musterhq/muster/shared/events"
)

// Links makes members' one-click links under the public base URL.
type Links struct {
	signer *token.Signer
	base   string
	// SignTTL is how long a signing link works.
	signTTL time.Duration
}

// NewLinks makes links under base (the campaigns service as members reach
// it), signing links valid for signTTL.
func NewLinks(signer *token.Signer, base string, signTTL time.Duration) *Links {
	return &Links{signer: signer, base: strings.TrimRight(base, "/"), signTTL: signTTL}
}

// Signer is the token signer the links use, for checking them.
func (l *Links) Signer() *token.Signer { return l.signer }

// RSVPPath and SignPath are where the links lead.
const (
	RSVPPath = "/rsvp/"
	SignPath = "/sign/"
)

// RSVP is a member's RSVP link, working until expires.
func (l *Links) RSVP(campaignID, contactID string, ch events.Channel, expires time.Time) string {
	return l.base + RSVPPath + l.signer.Sign(token.Claims{Purpose: token.RSVP, Channel: ch, CampaignID: campaignID, ContactID: contactID, Expires: expires})
}

// Sign is a member's petition signing link, working until expires.
func (l *Links) Sign(campaignID, contactID string, ch events.Channel, expires time.Time) string {
	return l.base + SignPath + l.signer.Sign(token.Claims{Purpose: token.Sign, Channel: ch, CampaignID: campaignID, ContactID: contactID, Expires: expires})
}

// Settings are the organization's, shared by every builder.
type Settings struct {
	// OrgName is the union's name when Org is nil or says nothing.
	OrgName string
	// Org reads the union's name as the admin last set it (orgname).
	Org   func() string
	Links *Links
}

// Name is the union's name to use now.
func (s Settings) Name() string {
	if s.Org != nil {
		if n := s.Org(); n != "" {
			return n
		}
	}
	return s.OrgName
}

// Builder builds one part of one campaign for any member.
type Builder struct {
	c       *campaign.Campaign
	part    campaign.Part
	step    int
	links   *Links
	langs   map[string]*compiled
	def     *compiled
	rsvpExp time.Time
	signExp time.Time
	attach  []events.Attachment
}

// compiled is a part's templates in one language.
type compiled struct {
	sms                  *template.Template
	subject, text, html  *template.Template
	values               template.Values
	needRSVP, needSignIn bool
	// ref names the stored email content once ShareContent made it;
	// slots are its merge slots, whose values each request carries.
	ref   string
	slots []template.Slot
}

// New compiles a part of a campaign. notice replaces the default words of
// an update or cancellation when the organizer wrote their own. now
// starts the signing links' lifetime.
func New(c *campaign.Campaign, part campaign.Part, step int, notice string, s Settings, now time.Time) (*Builder, error) {
	b := &Builder{c: c, part: part, step: step, links: s.Links, langs: make(map[string]*compiled, len(c.Content))}
	if s.Links != nil {
		b.signExp = now.Add(s.Links.signTTL)
	}
	if c.Meeting != nil {
		b.rsvpExp = c.Meeting.EndsAt()
	}
	def := c.Content[c.DefaultLanguage]
	langs := make([]string, 0, len(c.Content)+2)
	for lang := range c.Content {
		langs = append(langs, lang)
	}
	langs = append(langs, c.DefaultLanguage)
	if part != campaign.PartMain {
		// Muster's own words (reminders, notices, replies) exist in these
		// languages: a member whose language the organizer did not write
		// in still gets them in theirs, unless the organizer wrote their
		// own in the default language.
		langs = append(langs, campaign.BuiltInLanguages()...)
	}
	for _, lang := range langs {
		if _, done := b.langs[lang]; done {
			continue
		}
		cp, err := b.compile(lang, c.Content[lang], def, notice, s.Name())
		if err != nil {
			return nil, fmt.Errorf("compiling %s %s: %w", part, lang, err)
		}
		b.langs[lang] = cp
	}
	b.def = b.langs[c.DefaultLanguage]
	if c.Meeting != nil && (part == campaign.PartMain || part == campaign.PartUpdate || part == campaign.PartCancel) {
		b.attach = []events.Attachment{Calendar(c, part, s.Name(), now)}
	}
	return b, nil
}

// texts picks the words for a part in one language: the organizer's,
// the default language's, then Muster's defaults.
func (b *Builder) texts(lang string, ct, def campaign.Content, notice string) (sms string, email *campaign.Email) {
	d := campaign.DefaultTexts(lang)
	pick := func(s ...string) string {
		for _, x := range s {
			if x != "" {
				return x
			}
		}
		return ""
	}
	pickEmail := func(e ...*campaign.Email) *campaign.Email {
		for _, x := range e {
			if x != nil {
				return x
			}
		}
		return nil
	}
	switch b.part {
	case campaign.PartMain:
		return pick(ct.SMS, def.SMS), pickEmail(ct.Email, def.Email)
	case campaign.PartReminder:
		return pick(ct.ReminderSMS, def.ReminderSMS, d.ReminderSMS), pickEmail(ct.ReminderEmail, def.ReminderEmail, &d.ReminderEmail)
	case campaign.PartUpdate, campaign.PartCancel:
		sms, email := d.UpdateSMS, d.UpdateEmail
		if b.part == campaign.PartCancel {
			sms, email = d.CancelSMS, d.CancelEmail
		}
		if notice != "" {
			sms = notice
			email.Text = notice
		}
		return sms, &email
	case campaign.PartYes:
		return pick(ct.Replies.Yes, def.Replies.Yes, d.Replies.Yes), nil
	case campaign.PartNo:
		return pick(ct.Replies.No, def.Replies.No, d.Replies.No), nil
	case campaign.PartSigned:
		return pick(ct.Replies.Signed, def.Replies.Signed, d.Replies.Signed), nil
	case campaign.PartCalled:
		return pick(ct.Replies.Called, def.Replies.Called, d.Replies.Called), nil
	case campaign.PartFollowUp:
		// A poll's follow-up: the organizer's words for the answer, in
		// the member's language, chosen by the caller.
		return notice, nil
	}
	return "", nil
}

func (b *Builder) compile(lang string, ct, def campaign.Content, notice, org string) (*compiled, error) {
	allowed := b.c.Allowed()
	sms, email := b.texts(lang, ct, def, notice)
	cp := &compiled{values: b.values(lang, org)}
	var err error
	if sms != "" {
		if cp.sms, err = template.Parse("sms", sms, allowed, template.Text); err != nil {
			return nil, err
		}
	}
	if email != nil {
		if cp.subject, err = template.Parse("subject", email.Subject, allowed, template.Text); err != nil {
			return nil, err
		}
		if cp.text, err = template.Parse("text", email.Text, allowed, template.Text); err != nil {
			return nil, err
		}
		if email.HTML != "" {
			if cp.html, err = template.Parse("html", email.HTML, allowed, template.HTML); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range []*template.Template{cp.sms, cp.subject, cp.text, cp.html} {
		cp.needRSVP = cp.needRSVP || t.Uses(template.RSVPLink)
		cp.needSignIn = cp.needSignIn || t.Uses(template.SignLink)
	}
	return cp, nil
}

// values are the campaign's merge values in a language.
func (b *Builder) values(lang, org string) template.Values {
	var v template.Values
	v[template.OrgName] = org
	if m := b.c.Meeting; m != nil {
		v[template.MeetingTitle] = b.c.PublicTitle(lang)
		v[template.MeetingTime] = FormatTime(m.StartsAt, m.TimeZone, lang)
		v[template.MeetingPlace] = m.Where()
		v[template.MeetingLink] = m.VideoURL
	}
	if p := b.c.Petition; p != nil {
		v[template.SignKeyword] = p.Keyword
		if p.Call != nil {
			v[template.CallNumber] = p.Call.Number
			v[template.CallScript] = p.Call.Script
		}
	}
	return v
}

// Shared is one language's email content in its wire form, under its ref.
type Shared struct {
	Ref  string
	Data []byte
}

// ShareContent renders the part's email once per language with the
// members' own fields left as merge tags, and makes every email request
// the builder makes from now on name that content (ContentRef) with the
// member's values (MergeValues) instead of carrying it. The caller stores
// what it returns before publishing any such request.
func (b *Builder) ShareContent() ([]Shared, error) {
	var out []Shared
	seen := map[*compiled]bool{}
	for _, cp := range b.langs {
		if cp.text == nil || seen[cp] {
			continue
		}
		seen[cp] = true
		c := b.content(cp)
		ref, data, err := c.Ref()
		if err != nil {
			return nil, err
		}
		cp.ref = ref
		if !slices.ContainsFunc(out, func(s Shared) bool { return s.Ref == ref }) {
			out = append(out, Shared{Ref: ref, Data: data})
		}
	}
	return out, nil
}

// content renders one language's email with merge tags.
func (b *Builder) content(cp *compiled) events.Content {
	slots := cp.subject.Slots(nil)
	slots = cp.text.Slots(slots)
	slots = cp.html.Slots(slots)
	cp.slots = slots
	textTag := func(i int) string { return events.MergeTag(i, false) }
	htmlTag := func(i int) string { return events.MergeTag(i, true) }
	v := cp.values
	c := events.Content{
		Subject:     string(cp.subject.RenderShared(nil, &v, slots, textTag)),
		Text:        string(cp.text.RenderShared(make([]byte, 0, cp.text.Size()+64), &v, slots, textTag)),
		Attachments: b.attach,
	}
	if cp.html != nil {
		c.HTML = string(cp.html.RenderShared(make([]byte, 0, cp.html.Size()+64), &v, slots, htmlTag))
	} else {
		// The tags are letters, digits, dots and braces, which escaping
		// leaves alone: the text's tags become the HTML's.
		c.HTML = TextToHTML(c.Text)
		for i := range slots {
			c.HTML = strings.ReplaceAll(c.HTML, textTag(i), htmlTag(i))
		}
	}
	for _, s := range slots {
		c.Merge = append(c.Merge, s.String())
	}
	return c
}

// Has reports whether the part has anything to say on ch (an auto-reply
// has no email; a campaign without email content sends none).
func (b *Builder) Has(ch events.Channel) bool {
	if ch == events.ChannelEmail {
		return b.def.text != nil
	}
	return b.def.sms != nil
}

// pick chooses the member's language (as given, then its base), else the
// default, falling back to the default for a channel the language has no
// words for.
func (b *Builder) pick(m *events.Member, ch events.Channel) *compiled {
	cp := b.def
	if m.Language != "" {
		lang := campaign.NormalizeLanguage(m.Language)
		base, _, _ := strings.Cut(lang, "-")
		if x, ok := b.langs[lang]; ok {
			cp = x
		} else if x, ok := b.langs[base]; ok {
			cp = x
		}
	}
	if ch == events.ChannelEmail && cp.text == nil {
		return b.def
	}
	if ch == events.ChannelSMS && cp.sms == nil {
		return b.def
	}
	return cp
}

// language is the member's language as the request reports it to
// delivery (for keyword replies): theirs, else the campaign's default.
func (b *Builder) language(m *events.Member) string {
	if m.Language != "" {
		return campaign.NormalizeLanguage(m.Language)
	}
	return b.c.DefaultLanguage
}

// Build makes the send request for one member on one channel, keyed by
// the campaign, the part's step, the member and the channel.
func (b *Builder) Build(m *events.Member, ch events.Channel, now time.Time) events.SendRequested {
	return b.BuildKeyed(m, ch, events.IdempotencyKey(b.c.ID, b.step, m.ContactID, ch), now)
}

// BuildKeyed makes a send request under a key of the caller's: an
// auto-reply, an inbox answer or a test send, which are not steps.
func (b *Builder) BuildKeyed(m *events.Member, ch events.Channel, key string, now time.Time) events.SendRequested {
	cp := b.pick(m, ch)
	v := cp.values
	if cp.needRSVP && b.links != nil {
		v[template.RSVPLink] = b.links.RSVP(b.c.ID, m.ContactID, ch, b.rsvpExp)
	}
	if cp.needSignIn && b.links != nil {
		v[template.SignLink] = b.links.Sign(b.c.ID, m.ContactID, ch, b.signExp)
	}
	req := events.SendRequested{
		Meta:           events.KeyedMeta(key, events.TypeSendRequested, b.c.ID, now),
		IdempotencyKey: key, CampaignID: b.c.ID, Step: b.step, ContactID: m.ContactID, Channel: ch,
		TimeZone: m.TimeZone, Urgent: b.c.Urgent, Language: b.language(m),
	}
	// A request carrying its words inline is version 1, so a delivery not
	// yet upgraded reads it during a rolling upgrade; only one naming
	// stored content needs version 2.
	req.Version = 1
	if ch == events.ChannelEmail && cp.ref != "" {
		req.To = m.Email
		req.ContentRef = cp.ref
		req.Version = events.VersionSendRequested
		req.MergeValues = make([]string, len(cp.slots))
		for i, s := range cp.slots {
			req.MergeValues[i] = s.Value(m, &v)
		}
		return req
	}
	if ch == events.ChannelEmail {
		req.To = m.Email
		req.Subject = cp.subject.String(m, &v)
		req.Body = cp.text.String(m, &v)
		if cp.html != nil {
			req.HTML = cp.html.String(m, &v)
		} else {
			req.HTML = TextToHTML(req.Body)
		}
		req.Attachments = b.attach
		return req
	}
	req.To = m.Phone
	req.Body = cp.sms.String(m, &v)
	req.DefaultWindow = DefaultWindow(m)
	return req
}

// DefaultWindow is the window a member starts with before they choose
// their own: NIGHTS for one whose shift attribute is night (delivery
// applies it only when the organization asked for it and the member never
// chose). Campaigns knows the attribute; delivery knows the choice.
func DefaultWindow(m *events.Member) string {
	switch strings.ToLower(strings.TrimSpace(m.Fields["shift"])) {
	case "night", "nights", "noche", "noches":
		return events.DefaultWindowNights
	}
	return ""
}

// TextToHTML makes a plain email's HTML part: escaped, paragraphs kept.
func TextToHTML(text string) string {
	var sb strings.Builder
	sb.WriteString("<!doctype html><html><body>")
	for _, para := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		sb.WriteString("<p>")
		sb.WriteString(strings.ReplaceAll(html.EscapeString(para), "\n", "<br>\n"))
		sb.WriteString("</p>\n")
	}
	sb.WriteString("</body></html>")
	return sb.String()
}

// Calendar is the .ics file for a meeting's invitation, update or
// cancellation. The campaign's revision is the SEQUENCE, so a moved
// meeting updates the event members already added.
func Calendar(c *campaign.Campaign, part campaign.Part, org string, now time.Time) events.Attachment {
	m := c.Meeting
	method := ics.Publish
	if part == campaign.PartCancel {
		method = ics.Cancel
	}
	title := c.MeetingTitle()
	if title == "" {
		title = strings.TrimSpace(org + " meeting")
	}
	desc := title
	if m.VideoURL != "" {
		desc += "\n" + m.VideoURL
	}
	e := ics.Event{
		UID: c.ID + "@muster", Sequence: c.Revision, Method: method, Start: m.StartsAt, End: m.EndsAt(), Stamp: now,
		Summary: title, Location: m.Where(), Description: desc, URL: m.VideoURL, Organizer: org,
	}
	return events.Attachment{
		Filename: "meeting.ics", ContentType: e.ContentType(),
		Content: base64.StdEncoding.EncodeToString(ics.Render(e)),
	}
}

var (
	esDays   = [...]string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"}
	esMonths = [...]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
)

// FormatTime writes a meeting's time as members read it, in the meeting's
// time zone and the member's language (English and Spanish; English for
// the rest).
func FormatTime(t time.Time, zone, lang string) string {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if strings.HasPrefix(lang, "es") {
		return fmt.Sprintf("%s %d de %s, %s", esDays[t.Weekday()], t.Day(), esMonths[t.Month()-1], t.Format("15:04 MST"))
	}
	return t.Format("Monday, January 2 at 3:04 PM MST")
}
