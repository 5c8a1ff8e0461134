package campaign

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/apperr"
)

var now = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

func draft(t *testing.T, js string) Draft {
	t.Helper()
	var d Draft
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLegacyDraftMeansWhatItMeant(t *testing.T) {
	c, err := draft(t, `{"name":" Rally ","channel":"sms","body":"Hi {{first_name|friend}}","audience":{"tag":" Rally "}}`).Validate(now, "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Rally" || c.Kind != KindAlert || c.Channel != ChannelsSMS || c.Audience.Tag != "rally" ||
		c.Body != "Hi {{first_name|friend}}" || c.Content["en"].SMS != c.Body || c.DefaultLanguage != "en" {
		t.Errorf("legacy draft = %+v", c)
	}
}

func TestValidateRefuses(t *testing.T) {
	meeting := func(extra string) string {
		return `{"name":"GMM","kind":"meeting","body":"Come {{meeting_time}}","audience":{"tag":"a"},"meeting":{"starts_at":"2026-12-10T23:00:00Z","place":"Hall"` + extra + `}}`
	}
	cases := []struct {
		name, js, field, msg string
	}{
		{"no name", `{"body":"x","audience":{"tag":"a"}}`, "name", "required"},
		{"no audience", `{"name":"n","body":"x"}`, "audience.tag", "required"},
		{"bad filter", `{"name":"n","body":"x","audience":{"filter":[1]}}`, "audience.filter", "JSON object"},
		{"no body", `{"name":"n","audience":{"tag":"a"}}`, "body", "required"},
		{"over 1600", `{"name":"n","body":"` + strings.Repeat("a", 1601) + `","audience":{"tag":"a"}}`, "body", "1601 characters"},
		{"unknown field", `{"name":"n","body":"Hi {{frist_name}}","audience":{"tag":"a"}}`, "body", "frist_name"},
		{"broken syntax", `{"name":"n","body":"Hi {{first_name","audience":{"tag":"a"}}`, "body", "never closed"},
		{"meeting field in alert", `{"name":"n","body":"{{meeting_time}}","audience":{"tag":"a"}}`, "body", "cannot be used"},
		{"bad kind", `{"name":"n","kind":"survey","body":"x","audience":{"tag":"a"}}`, "kind", "survey"},
		{"poll without its question", `{"name":"n","kind":"poll","body":"x","audience":{"tag":"a"}}`, "poll", "is required"},
		{"poll with a stop choice", `{"name":"n","kind":"poll","body":"x","audience":{"tag":"a"},"poll":{"question":"q","choices":["Fine","STOP"]}}`,
			"poll.choices", "opt-out"},
		{"bad channel", `{"name":"n","channel":"fax","body":"x","audience":{"tag":"a"}}`, "channel", "fax"},
		{"email without email", `{"name":"n","channel":"email","audience":{"tag":"a"}}`, "email", "required"},
		{"email without subject", `{"name":"n","channel":"email","email":{"text":"x"},"audience":{"tag":"a"}}`, "email.subject", "required"},
		{"email bad html field", `{"name":"n","channel":"both","body":"x","email":{"subject":"s","text":"t","html":"{{nope}}"},"audience":{"tag":"a"}}`,
			"email.html", "nope"},
		{"meeting without meeting", `{"name":"n","kind":"meeting","body":"x","audience":{"tag":"a"}}`, "meeting", "required"},
		{"meeting in the past", strings.Replace(meeting(""), "2026-12-10", "2026-11-01", 1), "meeting.starts_at", "past"},
		{"meeting nowhere", strings.Replace(meeting(""), `"place":"Hall"`, `"place":""`, 1), "meeting.place", "place"},
		{"positive reminder", meeting(`,"reminders":["2h"]`), "meeting.reminders", "not before"},
		{"twice the reminder", meeting(`,"reminders":["-2h","-2h"]`), "meeting.reminders", "twice"},
		{"bad zone", meeting(`,"time_zone":"Mars/Olympus"`), "meeting.time_zone", "Mars"},
		{"bad video", meeting(`,"video_url":"zoom"`), "meeting.video_url", "http"},
		{"stop keyword", `{"name":"n","kind":"petition","body":"Reply {{sign_keyword}}","audience":{"tag":"a"},"petition":{"keyword":"stop"}}`,
			"petition.keyword", "opt-out"},
		{"call without number", `{"name":"n","kind":"petition","body":"x","audience":{"tag":"a"},"petition":{"ask":"call","call":{"script":"s"}}}`,
			"petition.call.number", "E.164"},
		{"sign link in call-only petition", `{"name":"n","kind":"petition","body":"{{sign_link}}","audience":{"tag":"a"},"petition":{"ask":"call","call":{"number":"+12025550100","script":"s"}}}`,
			"body", "cannot be used"},
		{"reminder text in an alert", `{"name":"n","body":"x","audience":{"tag":"a"},"content":{"en":{"reminder_sms":"r"}}}`,
			"content.en.reminder_sms", "only a meeting"},
	}
	for _, c := range cases {
		_, err := draft(t, c.js).Validate(now, "America/New_York")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if apperr.KindOf(err) != apperr.KindInvalid || apperr.FieldOf(err) != c.field || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v (field %q), want field %q and %q", c.name, err, apperr.FieldOf(err), c.field, c.msg)
		}
	}
}

func TestMeetingAndPetitionDefaults(t *testing.T) {
	c, err := draft(t, `{"name":"GMM","kind":"meeting","channel":"both","body":"Come {{meeting_time}} {{rsvp_link}}",
		"email":{"subject":"{{meeting_title}}","text":"RSVP {{rsvp_link}}"},"audience":{"tag":"a"},
		"meeting":{"starts_at":"2026-12-10T18:00:00-05:00","video_url":"https://meet.example/x"}}`).Validate(now, "America/Chicago")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Meeting
	if m.Title != "" || c.PublicTitle("en") != "the meeting" || m.TimeZone != "America/Chicago" || time.Duration(m.Duration) != time.Hour ||
		len(m.Reminders) != 2 || time.Duration(m.Reminders[0]) != -24*time.Hour || m.StartsAt.Location() != time.UTC || m.Where() != "https://meet.example/x" {
		t.Errorf("meeting defaults = %+v", m)
	}
	none, err := draft(t, `{"name":"GMM","kind":"meeting","body":"x","audience":{"tag":"a"},
		"meeting":{"starts_at":"2026-12-10T18:00:00Z","place":"Hall","reminders":[]}}`).Validate(now, "UTC")
	if err != nil || len(none.Meeting.Reminders) != 0 {
		t.Errorf("an empty reminder list must mean none: %+v %v", none.Meeting, err)
	}
	p, err := draft(t, `{"name":"Staffing","kind":"petition","body":"Reply {{sign_keyword}} or {{sign_link}}; call {{call_number}}","audience":{"tag":"a"},
		"petition":{"goal":500,"call":{"number":"+12025550100","script":"I am a member"}}}`).Validate(now, "UTC")
	if err != nil {
		t.Fatal(err)
	}
	if p.Petition.Ask != AskBoth || p.Petition.Keyword != "SIGN" || p.Petition.Call.Keyword != "CALLED" || p.Petition.Goal != 500 {
		t.Errorf("petition defaults = %+v %+v", p.Petition, p.Petition.Call)
	}
}

func TestContentForFallsBack(t *testing.T) {
	c := Campaign{DefaultLanguage: "en", Content: map[string]Content{"en": {SMS: "hi"}, "es": {SMS: "hola"}, "es-mx": {SMS: "qué onda"}}}
	for lang, want := range map[string]string{"": "hi", "en": "hi", "ES": "hola", "es_MX": "qué onda", "es-AR": "hola", "fr": "hi"} {
		if _, ct := c.ContentFor(lang); ct.SMS != want {
			t.Errorf("ContentFor(%q) = %q, want %q", lang, ct.SMS, want)
		}
	}
}

func TestDue(t *testing.T) {
	meeting := &Meeting{StartsAt: now.Add(2 * time.Hour), Duration: Duration(time.Hour)}
	c := func(s Status) Campaign { return Campaign{Status: s, Meeting: meeting} }
	cases := []struct {
		c    Campaign
		kind StepKind
		at   time.Time
		want Action
	}{
		{c(StatusScheduled), StepSend, now, Start},
		{c(StatusPaused), StepSend, now, Wait},
		{c(StatusCancelled), StepSend, now, Cancel},
		{c(StatusLaunched), StepReminder, now, Start},
		{c(StatusLaunching), StepReminder, now, Wait},
		{c(StatusPaused), StepReminder, now, Wait},
		{c(StatusLaunched), StepReminder, now.Add(2 * time.Hour), Skip},
		{c(StatusCancelled), StepReminder, now, Cancel},
		{c(StatusLaunched), StepUpdate, now, Start},
		{c(StatusCancelled), StepUpdate, now, Cancel},
		{c(StatusCancelled), StepCancel, now, Start},
	}
	for _, x := range cases {
		if got := Due(x.c, x.kind, x.at); got != x.want {
			t.Errorf("Due(%s, %s) = %v, want %v", x.c.Status, x.kind, got, x.want)
		}
	}
}

func TestLint(t *testing.T) {
	if w := Lint("Local 1199: rally Friday. Reply STOP to opt out.", "Local 1199"); len(w) != 0 {
		t.Errorf("a compliant first text got warnings: %v", w)
	}
	if w := Lint("Rally Friday!", "Local 1199"); len(w) != 2 {
		t.Errorf("a text naming nobody and no opt-out got %d warnings, want 2: %v", len(w), w)
	}
	if w := Lint("{{org_name}}: rally. Text STOP to quit", "Local 1199"); len(w) != 0 {
		t.Errorf("{{org_name}} names the union: %v", w)
	}
}

func TestDefaultTextsAreValidTemplates(t *testing.T) {
	for _, lang := range []string{"en", "es", "fr"} {
		d := DefaultTexts(lang)
		meeting := Campaign{Kind: KindMeeting}
		petition := Campaign{Kind: KindPetition}
		for _, s := range []string{d.ReminderSMS, d.UpdateSMS, d.CancelSMS, d.Replies.Yes, d.Replies.No,
			d.ReminderEmail.Text, d.UpdateEmail.Subject, d.CancelEmail.Text} {
			if err := CheckText("default", s, meeting.Allowed()); err != nil {
				t.Errorf("%s default %q: %v", lang, s, err)
			}
		}
		for _, s := range []string{d.Replies.Signed, d.Replies.Called} {
			if err := CheckText("default", s, petition.Allowed()); err != nil {
				t.Errorf("%s default %q: %v", lang, s, err)
			}
		}
	}
}
