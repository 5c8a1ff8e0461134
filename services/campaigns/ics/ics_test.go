package ics

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestRender(t *testing.T) {
	start := time.Date(2026, 12, 10, 23, 0, 0, 0, time.UTC)
	e := Event{
		UID: "camp-1@muster", Sequence: 2, Start: start, End: start.Add(90 * time.Minute), Stamp: start.Add(-48 * time.Hour),
		Summary: "General meeting; staffing, safety", Location: "Local 1199 hall, Room 2",
		Description: "Bring a coworker.\nEspañol disponible. " + strings.Repeat("Ünïcödé ", 20),
	}
	out := string(Render(e))
	for _, want := range []string{
		"BEGIN:VCALENDAR\r\n", "METHOD:PUBLISH\r\n", "UID:camp-1@muster\r\n", "SEQUENCE:2\r\n",
		"DTSTART:20261210T230000Z\r\n", "DTEND:20261211T003000Z\r\n",
		`SUMMARY:General meeting\; staffing\, safety` + "\r\n", "STATUS:CONFIRMED\r\n", "END:VCALENDAR\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("calendar lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(strings.ReplaceAll(out, "\r\n", ""), "\n") {
		t.Error("a bare newline is in the file")
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(line) > 75 {
			t.Errorf("line of %d octets: %q", len(line), line)
		}
		if !utf8.ValidString(line) {
			t.Errorf("folding split a character: %q", line)
		}
	}
	unfolded := strings.ReplaceAll(out, "\r\n ", "")
	if !strings.Contains(unfolded, `DESCRIPTION:Bring a coworker.\nEspañol disponible. Ünïcödé`) {
		t.Errorf("unfolded description wrong:\n%s", unfolded)
	}
	e.Method = Cancel
	c := string(Render(e))
	if !strings.Contains(c, "METHOD:CANCEL\r\n") || !strings.Contains(c, "STATUS:CANCELLED\r\n") {
		t.Errorf("cancellation lacks its method or status:\n%s", c)
	}
	if e.ContentType() != "text/calendar; charset=utf-8; method=CANCEL" {
		t.Errorf("content type = %q", e.ContentType())
	}
}
