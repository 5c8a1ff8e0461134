package server

import (
	"fmt"
	"strings"
	"time"
)

// memberRhythm is a member's own rhythm as contacts shows it (GET
// /contacts/{id}, "rhythm"): delivery enforces it, contacts keeps a copy
// from member.rhythm_changed.
type memberRhythm struct {
	Window      string        `json:"window"`
	PausedUntil *time.Time    `json:"paused_until"`
	FewerTexts  bool          `json:"fewer_texts"`
	Language    string        `json:"language"`
	Channels    string        `json:"channels"`
	History     []rhythmEntry `json:"history"`
}

// rhythmEntry is one change of a member's rhythm.
type rhythmEntry struct {
	Channel     string     `json:"channel"`
	Change      string     `json:"change"`
	Source      string     `json:"source"`
	Evidence    string     `json:"evidence"`
	Window      string     `json:"window"`
	PausedUntil *time.Time `json:"paused_until"`
	FewerTexts  bool       `json:"fewer_texts"`
	OccurredAt  time.Time  `json:"occurred_at"`
}

// rhythmLine is one sentence of the member page's "Their rhythm".
type rhythmLine struct{ Text string }

// rhythmHistoryRow is a change as the member page lists it.
type rhythmHistoryRow struct {
	When, What, How string
}

// rhythmWords says a member's rhythm in plain words, dates in zone (the
// member's, else UTC): "Texts only 16:00–21:00 their time, since Tue 8 Dec
// (texted NIGHTS)", "Paused until Thu 7 Jan 10:00". A member who chose
// nothing gets one line saying they follow the organization.
func rhythmWords(r memberRhythm, zone string) ([]rhythmLine, []rhythmHistoryRow) {
	loc, err := time.LoadLocation(zone)
	if err != nil || zone == "" {
		loc = time.UTC
	}
	day := func(t time.Time) string { return t.In(loc).Format("Mon 2 Jan") }
	var sms []rhythmEntry
	for _, e := range r.History {
		if e.Channel == "sms" {
			sms = append(sms, e)
		}
	}
	// since finds the change from which what still holds has held: the
	// earliest of the newest run of entries for which same is true.
	since := func(same func(rhythmEntry) bool) string {
		i := len(sms)
		for i > 0 && same(sms[i-1]) {
			i--
		}
		if i == len(sms) {
			return ""
		}
		return fmt.Sprintf(", since %s (%s)", day(sms[i].OccurredAt), how(sms[i]))
	}
	var lines []rhythmLine
	if r.Window != "" {
		lines = append(lines, rhythmLine{"Texts only " + strings.Replace(r.Window, "-", "–", 1) + " their time" +
			since(func(e rhythmEntry) bool { return e.Window == r.Window })})
	}
	if r.PausedUntil != nil {
		lines = append(lines, rhythmLine{"Paused until " + r.PausedUntil.In(loc).Format("Mon 2 Jan 15:04") +
			since(func(e rhythmEntry) bool { return e.PausedUntil != nil && e.PausedUntil.Equal(*r.PausedUntil) })})
	}
	if r.FewerTexts {
		lines = append(lines, rhythmLine{"Fewer texts: at most one a week" + since(func(e rhythmEntry) bool { return e.FewerTexts })})
	}
	if len(lines) == 0 {
		lines = append(lines, rhythmLine{"Texts in the organization's hours"})
	}
	switch r.Channels {
	case "sms":
		lines = append(lines, rhythmLine{"Wants texts only, no email"})
	case "email":
		lines = append(lines, rhythmLine{"Wants email only, no texts"})
	}
	if r.Language != "" {
		lines = append(lines, rhythmLine{"Chose language: " + r.Language})
	}
	rows := make([]rhythmHistoryRow, 0, len(r.History))
	for i := len(r.History) - 1; i >= 0; i-- {
		e := r.History[i]
		row := rhythmHistoryRow{When: e.OccurredAt.In(loc).Format("Mon 2 Jan 2006 15:04"), What: changeWords(e), How: how(e)}
		if e.Source != "web_form" && e.Evidence != "" {
			row.How = "texted " + e.Evidence // the keyword and its message id
		}
		rows = append(rows, row)
	}
	return lines, rows
}

// how says where a change came from: the keyword texted (with its message
// id as evidence) or the preferences page.
func how(e rhythmEntry) string {
	if e.Source == "web_form" {
		return "on the preferences page"
	}
	if kw, _, ok := strings.Cut(e.Evidence, " ("); ok && kw != "" {
		return "texted " + kw
	}
	return "texted " + strings.ToUpper(e.Change)
}

// changeWords says what one change did.
func changeWords(e rhythmEntry) string {
	switch e.Change {
	case "nights":
		return "Texts only in the evening (" + e.Window + ")"
	case "days":
		return "Back to the organization's hours"
	case "pause":
		if e.PausedUntil != nil {
			return "Paused texts until " + e.PausedUntil.UTC().Format("2 Jan 15:04 UTC")
		}
		return "Paused texts"
	case "resume":
		return "Ended the pause"
	case "less":
		return "Fewer texts (one a week)"
	case "more":
		return "Back to all texts"
	}
	w := e.Window
	if w == "" {
		w = "the organization's hours"
	}
	return "Saved preferences: texts " + w + map[bool]string{true: ", fewer texts", false: ""}[e.FewerTexts]
}
