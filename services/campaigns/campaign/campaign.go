// Package campaign is the domain of organizers' campaigns: the three kinds
// (action alert, meeting, petition), what a draft must say to be saved,
// and the states a campaign moves through. Nothing invalid is ever saved,
// so nothing invalid is ever sent.
package campaign

import (
	"encoding/json"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// MaxBody is the longest text Twilio accepts, in characters; it bounds
// every SMS template.
const MaxBody = 1600

// Kind is what a campaign asks of members.
type Kind string

// The kinds of campaign.
const (
	KindAlert    Kind = "alert"    // tell members something, now or at a set time
	KindMeeting  Kind = "meeting"  // invite, remind, take RSVPs
	KindPetition Kind = "petition" // ask members to sign, or to call a decision maker
)

// Status is where a campaign is in its life.
type Status string

// Campaign statuses.
const (
	StatusDraft     Status = "draft"
	StatusScheduled Status = "scheduled" // launch asked for, its time not yet come
	StatusLaunching Status = "launching" // first message's fan-out under way (or to resume)
	StatusLaunched  Status = "launched"  // every first message published; reminders may follow
	StatusPaused    Status = "paused"    // nothing new is published until resumed
	StatusCancelled Status = "cancelled"
)

// Channels are the channels a campaign sends on.
type Channels string

// A campaign sends by text, by email, or both: a member reachable on both
// gets one of each.
const (
	ChannelsSMS   Channels = "sms"
	ChannelsEmail Channels = "email"
	ChannelsBoth  Channels = "both"
)

// List is the channels in fan-out order.
func (c Channels) List() []events.Channel {
	switch c {
	case ChannelsEmail:
		return []events.Channel{events.ChannelEmail}
	case ChannelsBoth:
		return []events.Channel{events.ChannelSMS, events.ChannelEmail}
	default:
		return []events.Channel{events.ChannelSMS}
	}
}

// Has reports whether ch is one of the campaign's channels.
func (c Channels) Has(ch events.Channel) bool {
	for _, x := range c.List() {
		if x == ch {
			return true
		}
	}
	return false
}

// Audience selects members: everyone carrying a tag, everyone a filter in
// contacts' language matches, or (both given) everyone matching both.
type Audience struct {
	Tag    string          `json:"tag,omitempty"`
	Filter json.RawMessage `json:"filter,omitempty"`
}

// Email is one email message.
type Email struct {
	Subject string `json:"subject"`
	// HTML is optional; without it the text is sent as simple HTML.
	HTML string `json:"html,omitempty"`
	Text string `json:"text"`
}

// Replies are the automatic SMS answers to members' replies. Empty ones
// take the defaults for the language.
type Replies struct {
	Yes    string `json:"yes,omitempty"`
	No     string `json:"no,omitempty"`
	Signed string `json:"signed,omitempty"`
	Called string `json:"called,omitempty"`
}

// Content is what a campaign says in one language.
type Content struct {
	SMS   string `json:"sms,omitempty"`
	Email *Email `json:"email,omitempty"`
	// ReminderSMS and ReminderEmail are a meeting's reminders; empty
	// ones take the defaults for the language.
	ReminderSMS   string  `json:"reminder_sms,omitempty"`
	ReminderEmail *Email  `json:"reminder_email,omitempty"`
	Replies       Replies `json:"replies,omitzero"`
}

// Meeting is when and where members are asked to come.
type Meeting struct {
	// Title is the meeting's name as members see it (auto-replies, RSVP
	// page, calendar invitation). It may be empty: the campaign's name is
	// for organizers only and never stands in for it (see PublicTitle).
	Title    string    `json:"title"`
	StartsAt time.Time `json:"starts_at"`
	// TimeZone is where the meeting's time is read and shown; the
	// organization's by default.
	TimeZone string   `json:"time_zone"`
	Duration Duration `json:"duration"`
	Place    string   `json:"place,omitempty"`
	VideoURL string   `json:"video_url,omitempty"`
	// Reminders are offsets before the start, such as -24h and -2h.
	Reminders []Duration `json:"reminders"`
}

// EndsAt is when the meeting is over.
func (m Meeting) EndsAt() time.Time { return m.StartsAt.Add(time.Duration(m.Duration)) }

// Where is the place, or the video link for a meeting held online.
func (m Meeting) Where() string {
	if m.Place != "" {
		return m.Place
	}
	return m.VideoURL
}

// Ask is what a petition asks members to do.
type Ask string

// Petition asks.
const (
	AskSign Ask = "sign"
	AskCall Ask = "call"
	AskBoth Ask = "both"
)

// Signs reports whether members are asked to sign.
func (a Ask) Signs() bool { return a == AskSign || a == AskBoth }

// Calls reports whether members are asked to call.
func (a Ask) Calls() bool { return a == AskCall || a == AskBoth }

// Petition is a signature ask, a call-a-decision-maker ask, or both.
type Petition struct {
	// Title is the petition's name as members see it (the sign page); it
	// may be empty, and the campaign's name never stands in for it.
	Title string `json:"title,omitempty"`
	Ask   Ask    `json:"ask"`
	// Keyword is what members reply to sign; SIGN by default.
	Keyword string `json:"keyword"`
	// Goal is the number of signatures aimed for; 0 is none.
	Goal int   `json:"goal,omitempty"`
	Call *Call `json:"call,omitempty"`
}

// Call is the decision maker to call, and how members report they did.
type Call struct {
	Number string `json:"number"`
	Script string `json:"script"`
	// Keyword is what members reply once they called; CALLED by default.
	Keyword string `json:"keyword"`
}

// Campaign is one organizer's message to an audience, and what follows it.
type Campaign struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Channel is sms, email or both.
	Channel Channels `json:"channel"`
	// Body is the SMS text in the default language, as it has always been.
	Body            string             `json:"body,omitempty"`
	Audience        Audience           `json:"audience"`
	DefaultLanguage string             `json:"default_language"`
	Content         map[string]Content `json:"content"`
	Meeting         *Meeting           `json:"meeting,omitempty"`
	Petition        *Petition          `json:"petition,omitempty"`
	// Urgent lets the campaign's messages past members' frequency caps,
	// never past an opt-out.
	Urgent bool   `json:"urgent"`
	Status Status `json:"status"`
	// Targeted counts the members (per channel) the first message was
	// published to.
	Targeted    int        `json:"targeted"`
	Revision    int        `json:"revision"`
	CreatedAt   time.Time  `json:"created_at"`
	ScheduledAt *time.Time `json:"scheduled_at,omitempty"`
	LaunchedAt  *time.Time `json:"launched_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	PausedAt    *time.Time `json:"paused_at,omitempty"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
}

// MeetingTitle is the meeting's title as members may see it, empty when
// it has none. Meetings saved before titles stopped defaulting to the
// campaign's name hold that name as their title; a title equal to the name
// is read as none, so the internal name cannot reach members through them
// either.
func (c *Campaign) MeetingTitle() string {
	if m := c.Meeting; m != nil && m.Title != c.Name {
		return m.Title
	}
	return ""
}

// PetitionTitle is the petition's title as members may see it, empty
// when it has none (or only repeats the campaign's internal name).
func (c *Campaign) PetitionTitle() string {
	if p := c.Petition; p != nil && p.Title != c.Name {
		return p.Title
	}
	return ""
}

// PublicTitle is what members are told the meeting is called: its title,
// or the neutral words for "the meeting" in lang when it has none.
func (c *Campaign) PublicTitle(lang string) string {
	if t := c.MeetingTitle(); t != "" {
		return t
	}
	if i := indexByte(lang, '-'); i > 0 {
		lang = lang[:i]
	}
	if lang == "es" {
		return "la reunión"
	}
	return "the meeting"
}

// ContentFor picks the content for a member's language: the language as
// given ("es-MX"), then its base ("es"), then the campaign's default.
func (c *Campaign) ContentFor(language string) (string, Content) {
	if language != "" {
		lang := NormalizeLanguage(language)
		if ct, ok := c.Content[lang]; ok {
			return lang, ct
		}
		if i := indexByte(lang, '-'); i > 0 {
			if ct, ok := c.Content[lang[:i]]; ok {
				return lang[:i], ct
			}
		}
	}
	return c.DefaultLanguage, c.Content[c.DefaultLanguage]
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// NormalizeLanguage lower-cases a language tag and uses "-" between its
// parts: "ES_mx" is "es-mx".
func NormalizeLanguage(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c == '_':
			b[i] = '-'
		}
	}
	return string(b)
}

// Duration is a time.Duration written as "-24h" or "1h30m" in JSON, the
// way organizers think of offsets.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "1h30m" (or a number of seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return err
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
