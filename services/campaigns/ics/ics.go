// Package ics writes the iCalendar (RFC 5545) file a meeting's email
// carries, so members add it to their calendar in one tap. A moved meeting
// is sent again with the same UID and a higher SEQUENCE, which calendars
// read as an update; a cancelled one with METHOD:CANCEL.
package ics

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Method says what the file asks of the calendar.
type Method string

// PUBLISH adds or updates the event; CANCEL removes it. Muster never uses
// REQUEST: a bulk invitation must not ask calendars to mail answers to an
// organizer address, members RSVP by reply or link instead.
const (
	Publish Method = "PUBLISH"
	Cancel  Method = "CANCEL"
)

// Event is one meeting.
type Event struct {
	UID         string
	Sequence    int
	Method      Method
	Start, End  time.Time
	Stamp       time.Time
	Summary     string
	Location    string
	Description string
	URL         string
	Organizer   string // a display name only
}

// ContentType is the MIME type of the file, with its method.
func (e Event) ContentType() string {
	return "text/calendar; charset=utf-8; method=" + string(e.method())
}

func (e Event) method() Method {
	if e.Method == "" {
		return Publish
	}
	return e.Method
}

// Render writes the file: CRLF line ends, lines folded at 75 octets,
// times in UTC.
func Render(e Event) []byte {
	var w writer
	w.line("BEGIN:VCALENDAR")
	w.line("VERSION:2.0")
	w.line("PRODID:-//Muster//Campaigns//EN")
	w.line("CALSCALE:GREGORIAN")
	w.line("METHOD:" + string(e.method()))
	w.line("BEGIN:VEVENT")
	w.line("UID:" + text(e.UID))
	w.line("SEQUENCE:" + strconv.Itoa(e.Sequence))
	w.line("DTSTAMP:" + stamp(e.Stamp))
	w.line("DTSTART:" + stamp(e.Start))
	w.line("DTEND:" + stamp(e.End))
	w.line("SUMMARY:" + text(e.Summary))
	if e.Location != "" {
		w.line("LOCATION:" + text(e.Location))
	}
	if e.Description != "" {
		w.line("DESCRIPTION:" + text(e.Description))
	}
	if e.URL != "" {
		w.line("URL:" + e.URL)
	}
	if e.Organizer != "" {
		// A display name with no address: nothing for calendars to answer.
		w.line("X-MUSTER-ORGANIZER:" + text(e.Organizer))
	}
	if e.method() == Cancel {
		w.line("STATUS:CANCELLED")
	} else {
		w.line("STATUS:CONFIRMED")
	}
	w.line("END:VEVENT")
	w.line("END:VCALENDAR")
	return w.b
}

func stamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// text escapes a TEXT value: backslash, semicolon, comma and newlines.
func text(s string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)
	return r.Replace(s)
}

type writer struct{ b []byte }

// line writes one content line, folded so no physical line exceeds 75
// octets and no UTF-8 character is split.
func (w *writer) line(s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		w.b = append(w.b, s[:cut]...)
		w.b = append(w.b, "\r\n "...)
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	w.b = append(w.b, s...)
	w.b = append(w.b, "\r\n"...)
}
