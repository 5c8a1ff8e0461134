package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The console reads meeting times in zones the host may not have.
	_ "time/tzdata"

	"github.com/musterhq/muster/shared/apperr"
)

// composeForm is the new-campaign page: any kind on any channel. It is
// turned into campaigns' create request; the console checks only what it
// must parse itself (dates, numbers, offsets) and what the page asks for
// by name (an email's subject), and leaves every other rule to campaigns.
type composeForm struct {
	Name string
	Tag  string
	// Audience is the audience builder's conditions (Tag alone is read
	// as one "has tag" condition).
	Audience audienceForm
	Kind     string
	Channel  string
	Body     string
	// Email.
	Subject   string
	EmailText string
	EmailHTML string
	// Meeting: Title is what members are told it is called (never the
	// name, which only organizers see); StartsAt is the datetime-local
	// value, read in TimeZone.
	Title     string
	StartsAt  string
	TimeZone  string
	Place     string
	VideoURL  string
	Reminders string
	// KeepAudience says the editor keeps the draft's stored audience as
	// it is: one the builder cannot write (a filter made through the API).
	KeepAudience bool
	// Petition (Title, above, is a petition's public title too). Ask is
	// sign, call or both; empty lets campaigns decide from the call.
	Ask        string
	Keyword    string
	Goal       string
	CallNumber string
	CallScript string
}

func composeFormOf(get func(string) string) composeForm {
	f := composeForm{
		Name: get("name"), Tag: get("tag"), Kind: strings.TrimSpace(get("kind")), Channel: strings.TrimSpace(get("channel")),
		Body: get("body"), Subject: get("subject"), EmailText: get("email_text"), EmailHTML: get("email_html"),
		Title: strings.TrimSpace(get("title")), StartsAt: strings.TrimSpace(get("starts_at")), TimeZone: strings.TrimSpace(get("time_zone")),
		Place: get("place"), VideoURL: strings.TrimSpace(get("video_url")), Reminders: get("reminders"),
		Keyword: strings.TrimSpace(get("keyword")), Goal: strings.TrimSpace(get("goal")),
		CallNumber: strings.TrimSpace(get("call_number")), CallScript: get("call_script"),
		KeepAudience: get("aud_keep") != "", Ask: strings.TrimSpace(get("ask")),
	}
	f.Audience = audienceFormOf(get)
	if f.Kind == "" {
		f.Kind = "alert"
	}
	if f.Channel == "" {
		f.Channel = "sms"
	}
	return f
}

// SMS and Email report whether the form's channel includes them.
func (f composeForm) SMS() bool   { return f.Channel == "sms" || f.Channel == "both" }
func (f composeForm) Email() bool { return f.Channel == "email" || f.Channel == "both" }

// request is campaigns' create request for the form, or an error that
// names the field to fix; nothing is sent on an error.
func (f composeForm) request() (map[string]any, error) {
	switch f.Kind {
	case "alert", "meeting", "petition":
	default:
		return nil, apperr.Invalid("kind", "choose alert, meeting or petition")
	}
	switch f.Channel {
	case "sms", "email", "both":
	default:
		return nil, apperr.Invalid("channel", "choose text (SMS), email or both")
	}
	// An audience the builder cannot write (a filter made through the
	// API) is kept as stored: keep fills it in from the campaign.
	var audience map[string]any
	if !f.KeepAudience {
		var err error
		if audience, err = f.Audience.campaignAudience(); err != nil {
			return nil, err
		}
	}
	req := map[string]any{
		"name": strings.TrimSpace(f.Name), "kind": f.Kind, "channel": f.Channel,
		"audience": audience,
	}
	if f.SMS() {
		req["body"] = f.Body
	}
	if f.Email() {
		switch {
		case strings.TrimSpace(f.Subject) == "":
			return nil, apperr.Invalid("subject", "an email needs a subject")
		case strings.TrimSpace(f.EmailText) == "":
			return nil, apperr.Invalid("email_text", "an email needs its text (the HTML version is optional)")
		}
		email := map[string]string{"subject": strings.TrimSpace(f.Subject), "text": f.EmailText}
		if strings.TrimSpace(f.EmailHTML) != "" {
			email["html"] = f.EmailHTML
		}
		req["email"] = email
	}
	switch f.Kind {
	case "meeting":
		m, err := f.meeting()
		if err != nil {
			return nil, err
		}
		req["meeting"] = m
	case "petition":
		p, err := f.petition()
		if err != nil {
			return nil, err
		}
		req["petition"] = p
	}
	return req, nil
}

func (f composeForm) meeting() (map[string]any, error) {
	if f.StartsAt == "" {
		return nil, apperr.Invalid("starts_at", "a meeting needs a date and time")
	}
	if f.TimeZone == "" {
		return nil, apperr.Invalid("time_zone", "a meeting needs a time zone, such as America/Chicago")
	}
	loc, err := time.LoadLocation(f.TimeZone)
	if err != nil {
		return nil, apperr.Invalid("time_zone", "%q is not a time zone such as America/Chicago", f.TimeZone)
	}
	var at time.Time
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if at, err = time.ParseInLocation(layout, f.StartsAt, loc); err == nil {
			break
		}
	}
	if err != nil {
		return nil, apperr.Invalid("starts_at", "%q is not a date and time such as 2026-06-01T18:30", f.StartsAt)
	}
	if strings.TrimSpace(f.Place) == "" && f.VideoURL == "" {
		return nil, apperr.Invalid("place", "a meeting needs a place or a video link")
	}
	m := map[string]any{"starts_at": at.Format(time.RFC3339), "time_zone": f.TimeZone}
	if f.Title != "" {
		m["title"] = f.Title
	}
	if p := strings.TrimSpace(f.Place); p != "" {
		m["place"] = p
	}
	if f.VideoURL != "" {
		m["video_url"] = f.VideoURL
	}
	if strings.TrimSpace(f.Reminders) != "" {
		rs, err := parseReminders(f.Reminders)
		if err != nil {
			return nil, err
		}
		m["reminders"] = rs
	}
	return m, nil
}

// parseReminders reads offsets before the meeting as organizers write
// them, "24h, 2h" (or "1d, 30m"; "none" for no reminders), into
// campaigns' negative durations.
func parseReminders(s string) ([]string, error) {
	out := []string{}
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return out, nil
	}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		p := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(part)), "-")
		var d time.Duration
		var err error
		if days, ok := strings.CutSuffix(p, "d"); ok {
			var n int
			n, err = strconv.Atoi(days)
			d = time.Duration(n) * 24 * time.Hour
		} else {
			d, err = time.ParseDuration(p)
		}
		if err != nil || d <= 0 {
			return nil, apperr.Invalid("reminders", "%q is not a time before the meeting; write them like 24h, 2h or 30m", part)
		}
		out = append(out, (-d).String())
	}
	return out, nil
}

func (f composeForm) petition() (map[string]any, error) {
	p := map[string]any{}
	if f.Title != "" {
		p["title"] = f.Title
	}
	if f.Keyword != "" {
		p["keyword"] = strings.ToUpper(f.Keyword)
	}
	if f.Goal != "" {
		n, err := strconv.Atoi(f.Goal)
		if err != nil || n < 0 {
			return nil, apperr.Invalid("goal", "%q is not a number of signatures", f.Goal)
		}
		if n > 0 {
			p["goal"] = n
		}
	}
	script := strings.TrimSpace(f.CallScript)
	switch f.Ask {
	case "":
	case "sign":
		if f.CallNumber != "" {
			p["ask"] = "both" // a number given is a call asked for
		} else {
			p["ask"] = "sign"
		}
	case "call", "both":
		if f.CallNumber == "" {
			return nil, apperr.Invalid("call_number", "give the number members should call, such as +12125550100")
		}
		p["ask"] = f.Ask
	default:
		return nil, apperr.Invalid("ask", "choose sign, call or both")
	}
	switch {
	case f.CallNumber != "" && script != "":
		p["call"] = map[string]string{"number": f.CallNumber, "script": script}
	case f.CallNumber != "":
		return nil, apperr.Invalid("call_script", "give the script members should say when they call %s", f.CallNumber)
	case script != "":
		return nil, apperr.Invalid("call_number", "give the number members should call, such as +12125550100")
	}
	return p, nil
}

// shortDuration writes 24h0m0s as 24h and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// reminderTimes are when a meeting's reminders go out, in its zone.
func reminderTimes(m *meeting) []string {
	if m == nil {
		return nil
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	var out []string
	for _, r := range m.Reminders {
		d, err := time.ParseDuration(r)
		if err != nil {
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s before)", m.StartsAt.Add(d).In(loc).Format(meetingLayout), shortDuration(-d)))
	}
	return out
}

const meetingLayout = "Mon 2 Jan 2006 15:04 MST"

// meeting is the part of campaigns' meeting the console shows.
type meeting struct {
	Title     string    `json:"title"`
	StartsAt  time.Time `json:"starts_at"`
	TimeZone  string    `json:"time_zone"`
	Place     string    `json:"place"`
	VideoURL  string    `json:"video_url"`
	Reminders []string  `json:"reminders"`
	Duration  string    `json:"duration"`
}

// Starts is the start in the meeting's own zone.
func (m meeting) Starts() string {
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return m.StartsAt.In(loc).Format(meetingLayout)
}

// Where is the place or the video link.
func (m meeting) Where() string {
	if m.Place != "" {
		return m.Place
	}
	return m.VideoURL
}

// petition is the part of campaigns' petition the console shows.
type petition struct {
	Title   string `json:"title"`
	Ask     string `json:"ask"`
	Keyword string `json:"keyword"`
	Goal    int    `json:"goal"`
	Call    *struct {
		Number string `json:"number"`
		Script string `json:"script"`
	} `json:"call"`
}
