package campaign

import (
	"regexp"
	"strings"
)

// Part is one of the messages a campaign sends.
type Part string

// The parts of a campaign. Main is the alert, the invitation or the ask;
// the rest follow it.
const (
	PartMain     Part = "main"
	PartReminder Part = "reminder"
	PartUpdate   Part = "update" // the meeting moved: to those who said yes
	PartCancel   Part = "cancel" // the meeting is off: to those who said yes
	PartYes      Part = "yes"    // auto-replies
	PartNo       Part = "no"
	PartSigned   Part = "signed"
	PartCalled   Part = "called"
)

// Texts are the words Muster uses where an organizer wrote none: the
// meeting's reminders and notices and the auto-replies, per language.
type Texts struct {
	ReminderSMS   string
	ReminderEmail Email
	UpdateSMS     string
	UpdateEmail   Email
	CancelSMS     string
	CancelEmail   Email
	Replies       Replies
}

// BuiltInLanguages are the languages DefaultTexts has words in.
func BuiltInLanguages() []string { return []string{"en", "es"} }

// DefaultTexts returns the built-in words for a language, English when
// Muster has none in it. Each is a valid template for its kind.
func DefaultTexts(language string) Texts {
	if i := strings.IndexByte(language, '-'); i > 0 {
		language = language[:i]
	}
	if language == "es" {
		return Texts{
			ReminderSMS: "Recordatorio de {{org_name}}: {{meeting_title}} es el {{meeting_time}} en {{meeting_place}}. Responde NO si no puedes venir.",
			ReminderEmail: Email{
				Subject: "Recordatorio: {{meeting_title}}, {{meeting_time}}",
				Text:    "Hola {{first_name|compañero/a}}:\n\nTe recordamos que {{meeting_title}} es el {{meeting_time}} en {{meeting_place}}.\n\n¿Ya no puedes venir? Avísanos: {{rsvp_link}}\n\n{{org_name}}",
			},
			UpdateSMS: "{{org_name}}: {{meeting_title}} cambió al {{meeting_time}} en {{meeting_place}}. Responde NO si ya no puedes venir.",
			UpdateEmail: Email{
				Subject: "Cambio: {{meeting_title}} es ahora el {{meeting_time}}",
				Text:    "Hola {{first_name|compañero/a}}:\n\n{{meeting_title}} cambió al {{meeting_time}} en {{meeting_place}}.\n\n¿Ya no puedes venir? Avísanos: {{rsvp_link}}\n\n{{org_name}}",
			},
			CancelSMS: "{{org_name}}: {{meeting_title}} del {{meeting_time}} se canceló. Perdón por el cambio.",
			CancelEmail: Email{
				Subject: "Cancelado: {{meeting_title}}",
				Text:    "Hola {{first_name|compañero/a}}:\n\n{{meeting_title}} del {{meeting_time}} se canceló. Perdón por el cambio.\n\n{{org_name}}",
			},
			Replies: Replies{
				Yes:    "¡Gracias, {{first_name|compañero/a}}! Te esperamos en {{meeting_title}}, {{meeting_time}}.",
				No:     "Gracias por avisarnos, {{first_name|compañero/a}}.",
				Signed: "¡Gracias por firmar, {{first_name|compañero/a}}!",
				Called: "¡Gracias por hacer la llamada, {{first_name|compañero/a}}!",
			},
		}
	}
	return Texts{
		ReminderSMS: "Reminder from {{org_name}}: {{meeting_title}} is {{meeting_time}} at {{meeting_place}}. Reply NO if you can't make it.",
		ReminderEmail: Email{
			Subject: "Reminder: {{meeting_title}}, {{meeting_time}}",
			Text:    "Hi {{first_name|there}},\n\nA reminder: {{meeting_title}} is {{meeting_time}} at {{meeting_place}}.\n\nCan't make it any more? Let us know: {{rsvp_link}}\n\n{{org_name}}",
		},
		UpdateSMS: "{{org_name}}: {{meeting_title}} has moved to {{meeting_time}} at {{meeting_place}}. Reply NO if you can no longer make it.",
		UpdateEmail: Email{
			Subject: "Changed: {{meeting_title}} is now {{meeting_time}}",
			Text:    "Hi {{first_name|there}},\n\n{{meeting_title}} has moved to {{meeting_time}} at {{meeting_place}}.\n\nCan't make it any more? Let us know: {{rsvp_link}}\n\n{{org_name}}",
		},
		CancelSMS: "{{org_name}}: {{meeting_title}} on {{meeting_time}} is cancelled. Sorry for the change.",
		CancelEmail: Email{
			Subject: "Cancelled: {{meeting_title}}",
			Text:    "Hi {{first_name|there}},\n\n{{meeting_title}} on {{meeting_time}} is cancelled. Sorry for the change.\n\n{{org_name}}",
		},
		Replies: Replies{
			Yes:    "Thanks, {{first_name|friend}}! You're on the list for {{meeting_title}}, {{meeting_time}}.",
			No:     "Thanks for letting us know, {{first_name|friend}}.",
			Signed: "Thank you for signing, {{first_name|friend}}!",
			Called: "Thank you for making the call, {{first_name|friend}}!",
		},
	}
}

var optOutRe = regexp.MustCompile(`(?i)\b(stop|unsubscribe|opt[ -]?out)\b`)

// Lint returns warnings about a campaign's first text: carriers and the
// members themselves expect it to say who is writing and how to stop.
// They are warnings, not errors: a union texting its own members may have
// said both before.
func Lint(sms, orgName string) []string {
	var out []string
	if orgName != "" && !strings.Contains(strings.ToLower(sms), strings.ToLower(orgName)) && !strings.Contains(sms, "{{org_name") {
		out = append(out, "the text does not name the union ("+orgName+"); a first message should say who is writing")
	}
	if !optOutRe.MatchString(sms) {
		out = append(out, "the text does not say how to opt out; add \"Reply STOP to opt out\" to a first message")
	}
	return out
}
