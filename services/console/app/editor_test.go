package app_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/musterhq/muster/services/console/app"
)

// editorStand stands in for campaigns, contacts and delivery with a draft
// meeting (m1), a scheduled alert (s1) and a launched alert with a
// timeline and failures (l1), and records what the console asks of them.
type editorStand struct {
	mu       sync.Mutex
	launched bool             // m1 has been launched meanwhile
	puts     []map[string]any // m1's replacements
	tests    []map[string]string
	moves    []string // s1's new times
}

func (e *editorStand) serve(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		write := func(status int, v any) { w.WriteHeader(status); _ = json.NewEncoder(w).Encode(v) }
		e.mu.Lock()
		defer e.mu.Unlock()
		m1 := map[string]any{"id": "m1", "name": "Stewards Tue", "kind": "meeting", "channel": "both", "status": "draft",
			"body": "Meet {{meeting_time}}", "audience": map[string]any{"tag": "stewards"}, "urgent": true, "default_language": "en",
			"content": map[string]any{
				"en": map[string]any{"sms": "Meet {{meeting_time}}", "email": map[string]any{"subject": "Meeting", "text": "Come.", "html": "<p style=\"color:red\">Come.</p>"}, "replies": map[string]any{"yes": "See you!"}},
				"es": map[string]any{"sms": "Reunión {{meeting_time}}"}},
			"meeting": map[string]any{"title": "December meeting", "starts_at": "2030-12-08T21:00:00Z", "time_zone": "America/New_York",
				"place": "Union Hall", "reminders": []string{"-24h0m0s"}, "duration": "2h0m0s"}}
		if e.launched {
			m1["status"] = "launched"
		}
		switch p := r.URL.Path; {
		case p == "/settings":
			write(200, map[string]any{"settings": map[string]any{"org_name": "Local 1199", "time_zone": "America/New_York"}})
		case p == "/audiences/count":
			write(200, map[string]any{"total": 3, "reachable": 3, "sms": map[string]int{"reachable": 3}, "email": map[string]int{"reachable": 2}})
		case p == "/campaigns/m1" && r.Method == http.MethodGet:
			write(200, m1)
		case p == "/campaigns/m1" && r.Method == http.MethodPut:
			if e.launched {
				write(409, map[string]any{"error": "campaign m1 is launched; only a draft can be edited", "kind": "conflict"})
				return
			}
			var in map[string]any
			_ = json.NewDecoder(r.Body).Decode(&in)
			e.puts = append(e.puts, in)
			write(200, m1)
		case p == "/campaigns/m1/preview":
			write(200, map[string]any{"sms": map[string]any{"body": "Meet Sun 8 Dec 16:00", "length": map[string]any{"encoding": "GSM-7", "units": 20, "segments": 1}},
				"email": map[string]any{"subject": "Meeting", "text": "Come.", "html": `<p style="color:red">Come, Alex.</p>`}, "warnings": []string{}})
		case p == "/campaigns/m1/test":
			var in map[string]string
			_ = json.NewDecoder(r.Body).Decode(&in)
			if in["email"] != "" && !strings.Contains(in["email"], "@") {
				write(400, map[string]any{"error": "email: is not an email address", "kind": "invalid", "field": "email"})
				return
			}
			e.tests = append(e.tests, in)
			write(202, map[string]any{"sent": []any{}})
		case p == "/campaigns/m1/duplicate" && r.Method == http.MethodPost:
			write(201, map[string]any{"id": "m2", "name": "Copy of Stewards Tue", "status": "draft"})
		case p == "/campaigns/s1":
			write(200, map[string]any{"id": "s1", "name": "Rally", "kind": "alert", "channel": "sms", "status": "scheduled",
				"scheduled_at": "2030-12-09T14:00:00Z", "audience": map[string]any{"tag": "all"}})
		case p == "/campaigns/s1/reschedule":
			var in map[string]string
			_ = json.NewDecoder(r.Body).Decode(&in)
			if in["at"] < "2030-01-01" {
				write(400, map[string]any{"error": "at: " + in["at"] + " is in the past", "kind": "invalid", "field": "at"})
				return
			}
			e.moves = append(e.moves, in["at"])
			write(200, map[string]any{"id": "s1", "status": "scheduled", "scheduled_at": in["at"]})
		case p == "/campaigns/p1" && r.Method == http.MethodGet:
			write(200, map[string]any{"id": "p1", "name": "Call the CEO (internal)", "kind": "petition", "channel": "sms", "status": "draft",
				"body": "Call {{call_number}}", "audience": map[string]any{"tag": "all"}, "default_language": "en",
				"petition": map[string]any{"title": "Call for safe staffing", "ask": "call", "keyword": "SIGN",
					"call": map[string]any{"number": "+12125550100", "script": "Fund the clinic.", "keyword": "CALLED"}}})
		case p == "/campaigns/p1" && r.Method == http.MethodPut:
			var in map[string]any
			_ = json.NewDecoder(r.Body).Decode(&in)
			e.puts = append(e.puts, in)
			write(200, map[string]any{"id": "p1", "status": "draft"})
		case p == "/campaigns/p1/preview":
			write(200, map[string]any{"sms": map[string]any{"body": "Call +12125550100"}, "warnings": []string{}})
		case p == "/campaigns/f1" && r.Method == http.MethodGet:
			write(200, map[string]any{"id": "f1", "name": "Nested", "kind": "alert", "channel": "sms", "status": "draft", "body": "Hi",
				"audience": map[string]any{"filter": map[string]any{"any": []any{
					map[string]any{"all": []any{map[string]any{"tag": "a"}, map[string]any{"tag": "b"}}}, map[string]any{"tag": "c"}}}}})
		case p == "/campaigns/f1" && r.Method == http.MethodPut:
			var in map[string]any
			_ = json.NewDecoder(r.Body).Decode(&in)
			e.puts = append(e.puts, in)
			write(200, map[string]any{"id": "f1", "status": "draft"})
		case p == "/campaigns/f1/preview":
			write(200, map[string]any{"sms": map[string]any{"body": "Hi"}, "warnings": []string{}})
		case p == "/campaigns/s1/results":
			write(200, map[string]any{"status": "scheduled"})
		case p == "/campaigns/l1":
			write(200, map[string]any{"id": "l1", "name": "Rally", "kind": "alert", "channel": "sms", "status": "launched", "audience": map[string]any{"tag": "all"}})
		case p == "/campaigns/l1/results":
			write(200, map[string]any{"status": "launched", "targeted": 4, "sent": 3, "delivered": 2, "failed": 1, "replies": 1,
				"failures": map[string]int{"30005 unknown destination handset": 1},
				"timeline": map[string]any{"bucket_seconds": 300, "buckets": []map[string]any{
					{"at": "2030-12-01T15:00:00Z", "sent": 3, "delivered": 1, "replies": 0},
					{"at": "2030-12-01T15:05:00Z", "sent": 0, "delivered": 1, "replies": 0},
					{"at": "2030-12-01T15:10:00Z", "sent": 0, "delivered": 0, "replies": 1}}}})
		default:
			write(404, map[string]any{"error": "no such thing", "kind": "not_found"})
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func startEditing(t *testing.T) (*editorStand, *browser) {
	t.Helper()
	e := &editorStand{}
	stand := e.serve(t)
	c := startConsole(t, 100, func(cfg *app.Config) {
		cfg.CampaignsURL, cfg.DeliveryURL, cfg.ContactsURL = stand.URL, stand.URL, stand.URL
	})
	return e, signedIn(t, c)
}

// meetingForm is the editor's form for m1 with the place changed.
func meetingForm(csrf string) url.Values {
	return url.Values{"csrf": {csrf}, "name": {"Stewards Tue"}, "kind": {"meeting"}, "channel": {"both"}, "tag": {"stewards"},
		"title": {"December meeting"}, "starts_at": {"2030-12-08T16:00"}, "time_zone": {"America/New_York"}, "place": {"Room 2"},
		"reminders": {"24h"}, "body": {"Meet {{meeting_time}}"}, "subject": {"Meeting"}, "email_text": {"Come."}, "next": {"save"}}
}

func TestTheEditorEditsAMeetingAfterItsFirstSave(t *testing.T) {
	e, b := startEditing(t)
	code, text, raw := b.page("/campaigns/m1/edit")
	if code != http.StatusOK {
		t.Fatalf("editor = %d: %s", code, text)
	}
	for _, want := range []string{`id="place" name="place" value="Union Hall"`, `id="starts_at" name="starts_at" type="datetime-local" value="2030-12-08T16:00"`,
		`id="title" name="title" maxlength="100" value="December meeting"`, `value="24h"`, `id="subject" name="subject" value="Meeting"`,
		`<p id="counter" class="hint" aria-live="polite">20 characters, 1 segment (GSM-7)</p>`, `sandbox src="/campaigns/m1/email-preview"`,
		`id="test-phone"`, `id="test-email"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("the editor lacks %s", want)
		}
	}
	resp, page := b.do("POST", "/campaigns/m1/edit", meetingForm(b.csrf), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/m1/edit?notice=saved" {
		t.Fatalf("save = %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if len(e.puts) != 1 {
		t.Fatalf("campaigns got %d replacements", len(e.puts))
	}
	put, _ := json.Marshal(e.puts[0])
	for _, want := range []string{`"place":"Room 2"`, `"starts_at":"2030-12-08T16:00:00-05:00"`, `"duration":"2h0m0s"`, `"urgent":true`,
		`"es":{"sms":"Reunión {{meeting_time}}"}`, `"replies":{"yes":"See you!"}`, `"email":{"subject":"Meeting","text":"Come."}`} {
		if !strings.Contains(string(put), want) {
			t.Errorf("the replacement lacks %s (what the editor does not show is kept):\n%s", want, put)
		}
	}
	if strings.Contains(string(put), `"en":{"sms"`) {
		t.Errorf("the default language's text was sent twice:\n%s", put)
	}

	// Bad input is shown on the editor, with everything typed kept.
	bad := meetingForm(b.csrf)
	bad.Set("starts_at", "")
	bad.Set("place", "Room 9")
	resp, page = b.do("POST", "/campaigns/m1/edit", bad, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="edit-error"`) ||
		!strings.Contains(html.UnescapeString(page), "a meeting needs a date and time") || !strings.Contains(page, `value="Room 9"`) {
		t.Errorf("bad input = %d, want the editor with the error and the form kept:\n%s", resp.StatusCode, page)
	}
	if len(e.puts) != 1 {
		t.Errorf("bad input reached campaigns")
	}

	// As the organizer types: the draft is saved and previewed.
	var answer struct {
		Saved    bool   `json:"saved"`
		Text     string `json:"text"`
		Subject  string `json:"subject"`
		Email    bool   `json:"email"`
		Segments int    `json:"segments"`
		Audience struct {
			Reachable int `json:"reachable"`
		} `json:"audience"`
	}
	fields := map[string]string{}
	for k, v := range meetingForm("") {
		fields[k] = v[0]
	}
	if code := b.apiJSON("POST", "/campaigns/m1/draft", "", fields, &answer); code != http.StatusOK || !answer.Saved ||
		answer.Text != "Meet Sun 8 Dec 16:00" || answer.Subject != "Meeting" || !answer.Email || answer.Segments != 1 || answer.Audience.Reachable != 3 {
		t.Errorf("draft = %d %+v", code, answer)
	}
}

func TestTheEditorRefusesOnceLaunched(t *testing.T) {
	e, b := startEditing(t)
	e.mu.Lock()
	e.launched = true
	e.mu.Unlock()
	resp, _ := b.do("GET", "/campaigns/m1/edit", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/m1?notice=locked" {
		t.Fatalf("editor of a launched campaign = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.do("POST", "/campaigns/m1/edit", meetingForm(b.csrf), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/m1?notice=locked" {
		t.Fatalf("saving a launched campaign = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := b.apiJSON("POST", "/campaigns/m1/draft", "", map[string]string{"name": "x"}, nil); code != http.StatusConflict {
		t.Errorf("autosave of a launched campaign = %d, want 409", code)
	}
	_, text, _ := b.page("/campaigns/l1?notice=locked")
	if !strings.Contains(text, "can no longer be edited. Duplicate it to send a changed copy.") {
		t.Errorf("the campaign page does not say why:\n%s", text)
	}
	if len(e.puts) != 0 {
		t.Errorf("a launched campaign was replaced: %v", e.puts)
	}
}

func TestTheEmailPreviewIsSandboxed(t *testing.T) {
	_, b := startEditing(t)
	resp, page := b.do("GET", "/campaigns/m1/email-preview", nil, nil)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<p style="color:red">Come, Alex.</p>`) {
		t.Fatalf("email preview = %d: %s", resp.StatusCode, page)
	}
	for _, want := range []string{"default-src 'none'", "sandbox", "frame-ancestors 'self'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("preview policy %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || resp.Header.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Errorf("preview headers: CSP %q, X-Frame-Options %q", csp, resp.Header.Get("X-Frame-Options"))
	}
}

func TestATestEmailGoesToTheTypedAddress(t *testing.T) {
	e, b := startEditing(t)
	resp, page := b.do("POST", "/campaigns/m1/test", url.Values{"csrf": {b.csrf}, "email": {"me@example.org"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/m1/edit?notice=test-email" {
		t.Fatalf("test email = %d to %q: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if len(e.tests) != 1 || e.tests[0]["email"] != "me@example.org" || e.tests[0]["phone"] != "" {
		t.Fatalf("campaigns got %v", e.tests)
	}
	resp, page = b.do("POST", "/campaigns/m1/test", url.Values{"csrf": {b.csrf}, "email": {"me at home"}}, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), "“me at home” is not an email address we can send to") ||
		!strings.Contains(page, `value="me at home"`) {
		t.Errorf("a bad address = %d, want the editor with the error:\n%s", resp.StatusCode, page)
	}
}

func TestDuplicateOpensTheCopyInTheEditor(t *testing.T) {
	_, b := startEditing(t)
	resp, _ := b.do("POST", "/campaigns/m1/duplicate", url.Values{"csrf": {b.csrf}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/m2/edit?notice=copied" {
		t.Fatalf("duplicate = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, _, raw := b.page("/campaigns/l1")
	if !strings.Contains(raw, `action="/campaigns/l1/duplicate"`) {
		t.Error("a launched campaign's page offers no Duplicate")
	}
}

func TestRescheduleReadsTheOrganizationsClock(t *testing.T) {
	e, b := startEditing(t)
	_, text, raw := b.page("/campaigns/s1")
	if !strings.Contains(raw, `id="reschedule-when" name="when" type="datetime-local" required value="2030-12-09T09:00"`) ||
		!strings.Contains(text, "Move it to (America/New_York time)") {
		t.Fatalf("the scheduled page offers no new time in the organization's zone:\n%s", raw)
	}
	resp, _ := b.do("POST", "/campaigns/s1/reschedule", url.Values{"csrf": {b.csrf}, "when": {"2030-12-10T10:30"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/s1?notice=rescheduled" {
		t.Fatalf("reschedule = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(e.moves) != 1 || e.moves[0] != "2030-12-10T15:30:00Z" {
		t.Fatalf("campaigns got %v, want 10:30 New York time", e.moves)
	}
	for when, want := range map[string]string{"2020-01-01T10:00": "is in the past", "": "Pick the new date and time.", "tomorrow": "is not a date and time"} {
		resp, page := b.do("POST", "/campaigns/s1/reschedule", url.Values{"csrf": {b.csrf}, "when": {when}}, nil)
		page = html.UnescapeString(page)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="reschedule-error"`) || !strings.Contains(page, want) {
			t.Errorf("reschedule to %q = %d, want the page saying %q:\n%s", when, resp.StatusCode, want, page)
		}
	}
	if len(e.moves) != 1 {
		t.Errorf("refused times reached campaigns: %v", e.moves)
	}
}

func TestTheResultsChartAndFailuresInWords(t *testing.T) {
	_, b := startEditing(t)
	code, text, raw := b.page("/campaigns/l1")
	if code != http.StatusOK {
		t.Fatalf("campaign page = %d", code)
	}
	for _, want := range []string{`<svg viewBox="0 0 640 220" role="img" aria-labelledby="chart-caption"`, `<polyline points="44,`,
		`stroke-dasharray="6 3"`, `<table id="chart-table">`, `<th scope="row">10:05</th><td>0</td><td>1</td><td>0</td>`} {
		if !strings.Contains(raw, want) {
			t.Errorf("the chart lacks %s", want)
		}
	}
	for _, want := range []string{"3 sent, 2 delivered and 1 reply from 10:00 to 10:10, in steps of 5 minutes.",
		"1 Number no longer in service (30005)"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("the page does not say %q:\n%s", want, text)
		}
	}
	chart := raw[strings.Index(raw, `id="chart"`):]
	if chart = chart[:strings.Index(chart, "</section>")]; strings.Contains(chart, "<script") || strings.Contains(chart, "style=") {
		t.Error("the chart brought a script or an inline style")
	}
}

// A call-only petition stays one when edited, with its public title.
func TestTheEditorKeepsACallOnlyPetition(t *testing.T) {
	e, b := startEditing(t)
	_, _, raw := b.page("/campaigns/p1/edit")
	for _, want := range []string{`<option value="call" selected>`, `value="Call for safe staffing"`, `12125550100"`, `>Fund the clinic.</textarea>`} {
		if !strings.Contains(raw, want) {
			t.Errorf("the editor lacks %s", want)
		}
	}
	form := url.Values{"csrf": {b.csrf}, "name": {"Call the CEO (internal)"}, "kind": {"petition"}, "channel": {"sms"}, "tag": {"all"},
		"title": {"Call for safe staffing"}, "ask": {"call"}, "call_number": {"+12125550100"}, "call_script": {"Fund the clinic now."},
		"body": {"Call {{call_number}}"}, "next": {"save"}}
	if resp, page := b.do("POST", "/campaigns/p1/edit", form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save = %d: %s", resp.StatusCode, page)
	}
	put, _ := json.Marshal(e.puts)
	if !strings.Contains(string(put), `"ask":"call"`) || !strings.Contains(string(put), `"title":"Call for safe staffing"`) {
		t.Errorf("campaigns got %s", put)
	}
	form.Set("call_number", "")
	resp, page := b.do("POST", "/campaigns/p1/edit", form, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "give the number members should call") {
		t.Errorf("a call ask without a number = %d:\n%s", resp.StatusCode, page)
	}
}

// An audience the builder cannot write (made through the API) is said in
// words and kept as stored when the draft is saved.
func TestTheEditorKeepsAnAudienceItCannotWrite(t *testing.T) {
	e, b := startEditing(t)
	_, text, raw := b.page("/campaigns/f1/edit")
	if !strings.Contains(raw, `id="audience-kept"`) || !strings.Contains(text, "tagged a and tagged b or tagged c") {
		t.Fatalf("the editor does not keep the audience:\n%s", text)
	}
	form := url.Values{"csrf": {b.csrf}, "name": {"Nested"}, "kind": {"alert"}, "channel": {"sms"}, "aud_keep": {"1"}, "body": {"Hi again"}, "next": {"save"}}
	if resp, page := b.do("POST", "/campaigns/f1/edit", form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save = %d: %s", resp.StatusCode, page)
	}
	put, _ := json.Marshal(e.puts)
	if !strings.Contains(string(put), `"filter":{"any":[{"all":[{"tag":"a"},{"tag":"b"}]},{"tag":"c"}]}`) {
		t.Errorf("campaigns got %s", put)
	}
}
