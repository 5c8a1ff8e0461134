package campaign

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musterhq/muster/services/campaigns/template"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/phone"
)

// Draft is what an organizer submits. The first campaigns were SMS alerts
// written as {"name", "channel", "body", "audience": {"tag"}}; that shape
// still means exactly what it meant.
type Draft struct {
	Name    string   `json:"name"`
	Kind    Kind     `json:"kind"`
	Channel Channels `json:"channel"`
	// Body is the SMS text in the default language (a shortcut for
	// content.<default>.sms).
	Body string `json:"body"`
	// Email is the email in the default language (a shortcut for
	// content.<default>.email).
	Email           *Email             `json:"email"`
	Audience        Audience           `json:"audience"`
	DefaultLanguage string             `json:"default_language"`
	Content         map[string]Content `json:"content"`
	Meeting         *Meeting           `json:"meeting"`
	Petition        *Petition          `json:"petition"`
	Urgent          bool               `json:"urgent"`
}

// Limits on what organizers write.
const (
	MaxName      = 200
	MaxSubject   = 250
	MaxEmailText = 100_000
	MaxReminders = 5
	MaxReminder  = 30 * 24 * time.Hour
	MaxDuration  = 24 * time.Hour
	MaxLanguages = 20
)

// DefaultReminders are a meeting's reminders when the organizer names
// none: a day before and two hours before.
func DefaultReminders() []Duration {
	return []Duration{Duration(-24 * time.Hour), Duration(-2 * time.Hour)}
}

var (
	keywordRe = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,19}$`)
	langRe    = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,8})*$`)
)

// reserved are the words members use with delivery (opt-out, opt-in,
// help, join, their own rhythm: the consent package's list) and the RSVP
// answers: a petition keyword may be none of them.
func reserved(word string) bool {
	return word == "NO" || consent.Reserved(word, nil)
}

// Validate checks a draft, every template included, against the time now
// and the organization's time zone, and returns the campaign to store.
func (d Draft) Validate(now time.Time, orgZone string) (Campaign, error) {
	c := Campaign{
		Name: strings.TrimSpace(d.Name), Kind: d.Kind, Channel: d.Channel, Urgent: d.Urgent,
		Audience:        Audience{Tag: strings.ToLower(strings.TrimSpace(d.Audience.Tag)), Filter: d.Audience.Filter},
		DefaultLanguage: NormalizeLanguage(strings.TrimSpace(d.DefaultLanguage)), Status: StatusDraft,
	}
	if c.Kind == "" {
		c.Kind = KindAlert
	}
	if c.Channel == "" {
		c.Channel = ChannelsSMS
	}
	if c.DefaultLanguage == "" {
		c.DefaultLanguage = "en"
	}
	switch {
	case c.Name == "":
		return Campaign{}, apperr.Invalid("name", "is required")
	case utf8.RuneCountInString(c.Name) > MaxName:
		return Campaign{}, apperr.Invalid("name", "is longer than %d characters", MaxName)
	case c.Kind != KindAlert && c.Kind != KindMeeting && c.Kind != KindPetition:
		return Campaign{}, apperr.Invalid("kind", "%q is not a kind of campaign; use alert, meeting or petition", c.Kind)
	case c.Channel != ChannelsSMS && c.Channel != ChannelsEmail && c.Channel != ChannelsBoth:
		return Campaign{}, apperr.Invalid("channel", "%q is not supported; use sms, email or both", c.Channel)
	case !langRe.MatchString(c.DefaultLanguage):
		return Campaign{}, apperr.Invalid("default_language", "%q is not a language tag such as en or es", d.DefaultLanguage)
	}
	if err := c.validateAudience(); err != nil {
		return Campaign{}, err
	}
	if err := c.takeContent(d); err != nil {
		return Campaign{}, err
	}
	switch c.Kind {
	case KindMeeting:
		if d.Petition != nil {
			return Campaign{}, apperr.Invalid("petition", "only a petition campaign has one")
		}
		m, err := validateMeeting(d.Meeting, c.Name, now, orgZone)
		if err != nil {
			return Campaign{}, err
		}
		c.Meeting = m
	case KindPetition:
		if d.Meeting != nil {
			return Campaign{}, apperr.Invalid("meeting", "only a meeting campaign has one")
		}
		p, err := validatePetition(d.Petition)
		if err != nil {
			return Campaign{}, err
		}
		c.Petition = p
	default:
		if d.Meeting != nil {
			return Campaign{}, apperr.Invalid("meeting", "only a meeting campaign has one")
		}
		if d.Petition != nil {
			return Campaign{}, apperr.Invalid("petition", "only a petition campaign has one")
		}
	}
	if err := c.validateContent(d.Body != "", d.Email != nil); err != nil {
		return Campaign{}, err
	}
	c.Body = c.Content[c.DefaultLanguage].SMS
	return c, nil
}

func (c *Campaign) validateAudience() error {
	if len(c.Audience.Filter) > 0 {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(c.Audience.Filter, &probe); err != nil || probe == nil {
			return apperr.Invalid("audience.filter", "must be a JSON object in contacts' filter language")
		}
	}
	if c.Audience.Tag == "" && len(c.Audience.Filter) == 0 {
		return apperr.Invalid("audience.tag", "is required (or give audience.filter)")
	}
	return nil
}

// takeContent merges the shortcuts (body, email) into the content map.
func (c *Campaign) takeContent(d Draft) error {
	c.Content = make(map[string]Content, len(d.Content)+1)
	if len(d.Content) > MaxLanguages {
		return apperr.Invalid("content", "has more than %d languages", MaxLanguages)
	}
	for lang, ct := range d.Content {
		norm := NormalizeLanguage(strings.TrimSpace(lang))
		if !langRe.MatchString(norm) {
			return apperr.Invalid("content", "%q is not a language tag such as en or es", lang)
		}
		if _, dup := c.Content[norm]; dup {
			return apperr.Invalid("content", "language %q is given twice", norm)
		}
		c.Content[norm] = ct
	}
	def := c.Content[c.DefaultLanguage]
	if d.Body != "" {
		if def.SMS != "" {
			return apperr.Invalid("body", "give the default language's text as body or as content.%s.sms, not both", c.DefaultLanguage)
		}
		def.SMS = d.Body
	}
	if d.Email != nil {
		if def.Email != nil {
			return apperr.Invalid("email", "give the default language's email as email or as content.%s.email, not both", c.DefaultLanguage)
		}
		def.Email = d.Email
	}
	c.Content[c.DefaultLanguage] = def
	return nil
}

// Allowed is the set of merge fields a campaign of this kind may use.
func (c *Campaign) Allowed() template.Set {
	switch c.Kind {
	case KindMeeting:
		return template.MemberFields | template.MeetingFields
	case KindPetition:
		set := template.MemberFields
		if c.Petition == nil || c.Petition.Ask.Signs() {
			set |= template.Of(template.SignLink, template.SignKeyword)
		}
		if c.Petition == nil || c.Petition.Ask.Calls() {
			set |= template.Of(template.CallNumber, template.CallScript)
		}
		return set
	default:
		return template.MemberFields
	}
}

func (c *Campaign) validateContent(bodyGiven, emailGiven bool) error {
	allowed := c.Allowed()
	def := c.Content[c.DefaultLanguage]
	if c.Channel.Has(events.ChannelSMS) && strings.TrimSpace(def.SMS) == "" {
		if bodyGiven || len(c.Content) == 1 {
			return apperr.Invalid("body", "is required")
		}
		return apperr.Invalid("content."+c.DefaultLanguage+".sms", "is required: the default language's text")
	}
	if c.Channel.Has(events.ChannelEmail) && def.Email == nil {
		return apperr.Invalid("email", "is required: the default language's email (subject and text)")
	}
	for lang, ct := range c.Content {
		at := "content." + lang
		smsField := at + ".sms"
		if lang == c.DefaultLanguage && bodyGiven {
			smsField = "body"
		}
		if err := checkSMS(smsField, ct.SMS, allowed); err != nil {
			return err
		}
		emailField := at + ".email"
		if lang == c.DefaultLanguage && emailGiven {
			emailField = "email"
		}
		if err := checkEmail(emailField, ct.Email, allowed); err != nil {
			return err
		}
		if c.Kind != KindMeeting && (ct.ReminderSMS != "" || ct.ReminderEmail != nil) {
			return apperr.Invalid(at+".reminder_sms", "only a meeting has reminders")
		}
		if err := checkSMS(at+".reminder_sms", ct.ReminderSMS, allowed); err != nil {
			return err
		}
		if err := checkEmail(at+".reminder_email", ct.ReminderEmail, allowed); err != nil {
			return err
		}
		if err := c.checkReplies(at+".replies", ct.Replies, allowed); err != nil {
			return err
		}
	}
	return nil
}

func (c *Campaign) checkReplies(at string, r Replies, allowed template.Set) error {
	for _, x := range []struct {
		name, text string
		ok         bool
	}{
		{"yes", r.Yes, c.Kind == KindMeeting},
		{"no", r.No, c.Kind == KindMeeting},
		{"signed", r.Signed, c.Kind == KindPetition},
		{"called", r.Called, c.Kind == KindPetition},
	} {
		if x.text == "" {
			continue
		}
		if !x.ok {
			return apperr.Invalid(at+"."+x.name, "this kind of campaign never sends that reply")
		}
		if err := checkSMS(at+"."+x.name, x.text, allowed); err != nil {
			return err
		}
	}
	return nil
}

// CheckText checks one text (a notice, an answer) as an SMS template
// with the fields allowed.
func CheckText(field, text string, allowed template.Set) error {
	if strings.TrimSpace(text) == "" {
		return apperr.Invalid(field, "is empty")
	}
	return checkSMS(field, text, allowed)
}

// checkSMS refuses a text over the SMS limit or with a bad template; an
// empty text is fine here (whether one is required is decided above).
func checkSMS(field, text string, allowed template.Set) error {
	if text == "" {
		return nil
	}
	if strings.TrimSpace(text) == "" {
		return apperr.Invalid(field, "is only spaces")
	}
	if n := utf8.RuneCountInString(text); n > MaxBody {
		return apperr.Invalid(field, "is %d characters; the most a text can be is %d", n, MaxBody)
	}
	_, err := template.Parse(field, text, allowed, template.Text)
	return err
}

func checkEmail(field string, e *Email, allowed template.Set) error {
	if e == nil {
		return nil
	}
	switch {
	case strings.TrimSpace(e.Subject) == "":
		return apperr.Invalid(field+".subject", "is required")
	case strings.ContainsAny(e.Subject, "\r\n"):
		return apperr.Invalid(field+".subject", "must be one line")
	case utf8.RuneCountInString(e.Subject) > MaxSubject:
		return apperr.Invalid(field+".subject", "is longer than %d characters", MaxSubject)
	case strings.TrimSpace(e.Text) == "":
		return apperr.Invalid(field+".text", "is required: every email has a plain-text part")
	case len(e.Text) > MaxEmailText || len(e.HTML) > MaxEmailText:
		return apperr.Invalid(field, "is longer than %d bytes", MaxEmailText)
	}
	if _, err := template.Parse(field+".subject", e.Subject, allowed, template.Text); err != nil {
		return err
	}
	if _, err := template.Parse(field+".text", e.Text, allowed, template.Text); err != nil {
		return err
	}
	if _, err := template.Parse(field+".html", e.HTML, allowed, template.HTML); err != nil {
		return err
	}
	return nil
}

func validateMeeting(in *Meeting, name string, now time.Time, orgZone string) (*Meeting, error) {
	if in == nil {
		return nil, apperr.Invalid("meeting", "is required for a meeting campaign (starts_at, place or video_url)")
	}
	m := *in
	m.Title = strings.TrimSpace(m.Title)
	if m.TimeZone == "" {
		m.TimeZone = orgZone
	}
	if m.Duration == 0 {
		m.Duration = Duration(time.Hour)
	}
	if m.Reminders == nil {
		m.Reminders = DefaultReminders()
	}
	m.Place, m.VideoURL = strings.TrimSpace(m.Place), strings.TrimSpace(m.VideoURL)
	if err := CheckMeeting(m, now); err != nil {
		return nil, err
	}
	m.StartsAt = m.StartsAt.UTC()
	return &m, nil
}

// CheckMeeting validates a meeting as it would be saved: a new one, or one
// an organizer moves.
func CheckMeeting(m Meeting, now time.Time) error {
	switch {
	case utf8.RuneCountInString(m.Title) > MaxName:
		return apperr.Invalid("meeting.title", "is longer than %d characters", MaxName)
	case m.StartsAt.IsZero():
		return apperr.Invalid("meeting.starts_at", "is required")
	case !m.StartsAt.After(now):
		return apperr.Invalid("meeting.starts_at", "%s is in the past", m.StartsAt.Format(time.RFC3339))
	case m.Duration <= 0 || time.Duration(m.Duration) > MaxDuration:
		return apperr.Invalid("meeting.duration", "must be more than 0 and at most %s", MaxDuration)
	case m.Place == "" && m.VideoURL == "":
		return apperr.Invalid("meeting.place", "give a place or a video_url")
	}
	if _, err := time.LoadLocation(m.TimeZone); err != nil || m.TimeZone == "" {
		return apperr.Invalid("meeting.time_zone", "%q is not a time zone such as America/Chicago", m.TimeZone)
	}
	if m.VideoURL != "" {
		u, err := url.Parse(m.VideoURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return apperr.Invalid("meeting.video_url", "is not an http(s) link")
		}
	}
	if len(m.Reminders) > MaxReminders {
		return apperr.Invalid("meeting.reminders", "has more than %d reminders", MaxReminders)
	}
	seen := map[Duration]bool{}
	for _, r := range m.Reminders {
		switch {
		case r >= 0:
			return apperr.Invalid("meeting.reminders", "%s is not before the meeting; write offsets such as -24h", time.Duration(r))
		case time.Duration(-r) > MaxReminder:
			return apperr.Invalid("meeting.reminders", "%s is more than %s before the meeting", time.Duration(r), MaxReminder)
		case seen[r]:
			return apperr.Invalid("meeting.reminders", "%s is given twice", time.Duration(r))
		}
		seen[r] = true
	}
	return nil
}

func validatePetition(in *Petition) (*Petition, error) {
	if in == nil {
		in = &Petition{}
	}
	p := *in
	if p.Ask == "" {
		p.Ask = AskSign
		if p.Call != nil {
			p.Ask = AskBoth
		}
	}
	if p.Ask != AskSign && p.Ask != AskCall && p.Ask != AskBoth {
		return nil, apperr.Invalid("petition.ask", "%q is not an ask; use sign, call or both", p.Ask)
	}
	p.Title = strings.TrimSpace(p.Title)
	if utf8.RuneCountInString(p.Title) > MaxName {
		return nil, apperr.Invalid("petition.title", "is longer than %d characters", MaxName)
	}
	p.Keyword = strings.ToUpper(strings.TrimSpace(p.Keyword))
	if p.Keyword == "" {
		p.Keyword = "SIGN"
	}
	if err := checkKeyword("petition.keyword", p.Keyword); err != nil {
		return nil, err
	}
	if p.Goal < 0 {
		return nil, apperr.Invalid("petition.goal", "cannot be negative")
	}
	if !p.Ask.Calls() {
		if p.Call != nil {
			return nil, apperr.Invalid("petition.call", "is only for a call ask (ask: call or both)")
		}
		return &p, nil
	}
	if p.Call == nil {
		return nil, apperr.Invalid("petition.call", "is required for a call ask: number and script")
	}
	call := *p.Call
	call.Number = strings.TrimSpace(call.Number)
	call.Script = strings.TrimSpace(call.Script)
	call.Keyword = strings.ToUpper(strings.TrimSpace(call.Keyword))
	if call.Keyword == "" {
		call.Keyword = "CALLED"
	}
	switch {
	case !phone.IsE164(call.Number):
		return nil, apperr.Invalid("petition.call.number", "is not an E.164 phone number such as +12125550100")
	case call.Script == "":
		return nil, apperr.Invalid("petition.call.script", "is required: what members should say")
	case utf8.RuneCountInString(call.Script) > MaxBody:
		return nil, apperr.Invalid("petition.call.script", "is longer than %d characters", MaxBody)
	case call.Keyword == p.Keyword:
		return nil, apperr.Invalid("petition.call.keyword", "must differ from the signing keyword %s", p.Keyword)
	}
	if err := checkKeyword("petition.call.keyword", call.Keyword); err != nil {
		return nil, err
	}
	p.Call = &call
	return &p, nil
}

func checkKeyword(field, kw string) error {
	if !keywordRe.MatchString(kw) {
		return apperr.Invalid(field, "%q must be one word of 2 to 20 letters or digits", kw)
	}
	if reserved(kw) {
		return apperr.Invalid(field, "%s is a keyword members use for opt-out, help or RSVP", kw)
	}
	return nil
}
