package app_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/services/console/app"
	"github.com/musterhq/muster/services/console/plain"
)

// organizerQuestions stands in for campaigns and delivery with a meeting
// (two yes, one no), a petition (1 of 10 signed), a scheduled alert and an
// alert with texts held back, so the campaign pages can be read for the
// answers organizers ask for.
type organizerQuestions struct {
	mu    sync.Mutex
	tests []string // phones test sends were asked for
	// heldUntil is when the held texts go.
	heldUntil, capUntil time.Time
}

func (o *organizerQuestions) serve(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		write := func(v any) { _ = json.NewEncoder(w).Encode(v) }
		q := r.URL.Query()
		switch p := r.URL.Path; {
		case p == "/settings":
			write(map[string]any{"settings": map[string]any{"org_name": "Local 1199", "time_zone": "America/New_York", "send_window": "09:00-20:00"}})
		case p == "/campaigns/meet":
			write(map[string]any{"id": "meet", "name": "Stewards meeting Tue", "kind": "meeting", "channel": "sms", "status": "launched",
				"body": "Meet Tuesday", "audience": map[string]any{"tag": "stewards"},
				"meeting": map[string]any{"title": "", "starts_at": "2030-12-08T21:00:00Z", "time_zone": "America/New_York", "place": "Union Hall"}})
		case p == "/campaigns/meet/results":
			write(map[string]any{"status": "launched", "targeted": 3, "sent": 3, "delivered": 3, "rsvps": map[string]int{"yes": 2, "no": 1, "no_answer": 0}})
		case p == "/campaigns/meet/rsvps" && q.Get("answer") == "yes":
			write(map[string]any{"rsvps": []map[string]any{
				{"contact_id": "k1", "first_name": "Ana", "last_name": "Ruiz", "answer": "yes", "answered_at": "2030-12-01T15:00:00Z"},
				{"contact_id": "k2", "first_name": "Bo", "last_name": "Chen", "answer": "yes", "answered_at": "2030-12-01T16:00:00Z"}}, "next": ""})
		case p == "/campaigns/meet/rsvps" && q.Get("answer") == "no":
			write(map[string]any{"rsvps": []map[string]any{{"contact_id": "k3", "first_name": "Cy", "answer": "no"}}, "next": ""})
		case p == "/campaigns/sign":
			write(map[string]any{"id": "sign", "name": "Staffing petition", "kind": "petition", "channel": "sms", "status": "launched",
				"audience": map[string]any{"tag": "all"}, "petition": map[string]any{"keyword": "SIGN", "goal": 10}})
		case p == "/campaigns/sign/results":
			write(map[string]any{"status": "launched", "targeted": 12, "signatures": 1, "goal": 10})
		case p == "/campaigns/sign/signatures":
			write(map[string]any{"count": 1, "goal": 10, "signatures": []map[string]any{{"contact_id": "k4", "first_name": "Dee", "last_name": "Park", "at": "2030-12-01T15:00:00Z"}}, "next": ""})
		case p == "/campaigns/held":
			write(map[string]any{"id": "held", "name": "Rally", "kind": "alert", "channel": "sms", "status": "launched", "audience": map[string]any{"tag": "all"}})
		case p == "/campaigns/held/results":
			write(map[string]any{"status": "launched", "targeted": 13, "sent": 10, "queued": 3, "deferred": 3})
		case p == "/messages" && q.Get("campaign_id") == "held" && q.Get("status") == "queued":
			write(map[string]any{"messages": []map[string]any{
				{"idempotency_key": "c.held.s0.k1.sms", "defer_reason": "member_window", "deferred_until": o.heldUntil},
				{"idempotency_key": "c.held.s0.k2.sms", "defer_reason": "member_window", "deferred_until": o.heldUntil.Add(time.Hour)},
				{"idempotency_key": "c.held.s0.k3.sms", "defer_reason": "frequency cap", "deferred_until": o.capUntil},
				{"idempotency_key": "c.held.t.x.sms", "defer_reason": "quiet hours", "deferred_until": o.capUntil}, // a test send
			}, "next": ""})
		case p == "/campaigns/later":
			write(map[string]any{"id": "later", "name": "Vote reminder", "kind": "alert", "channel": "sms", "status": "scheduled",
				"audience": map[string]any{"tag": "all"}, "scheduled_at": o.heldUntil})
		case p == "/campaigns/later/results":
			write(map[string]any{"status": "scheduled"})
		case p == "/campaigns/draft":
			write(map[string]any{"id": "draft", "name": "Draft", "kind": "alert", "channel": "sms", "status": "draft", "body": "Hi", "audience": map[string]any{"tag": "all"}})
		case p == "/campaigns/draft/estimate":
			write(map[string]any{"channels": map[string]any{"sms": map[string]any{"reachable": 3, "segments": 1, "encoding": "GSM-7"}}})
		case p == "/campaigns/draft/preview":
			write(map[string]any{"sms": map[string]any{"body": "Hi"}})
		case p == "/campaigns/draft/test" && r.Method == http.MethodPost:
			var in struct {
				Phone string `json:"phone"`
			}
			_ = json.NewDecoder(r.Body).Decode(&in)
			if strings.Count(in.Phone, "5") < 2 { // the stand-in's idea of a bad number
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error": "phone: \"12\" is not a phone number", "kind": "invalid", "field": "phone"}`)
				return
			}
			o.mu.Lock()
			o.tests = append(o.tests, in.Phone)
			o.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"sent": []}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error": "not here", "kind": "not_found"}`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func startAnswering(t *testing.T) (*console, *organizerQuestions, *browser) {
	t.Helper()
	o := &organizerQuestions{}
	stand := o.serve(t)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.CampaignsURL, cfg.DeliveryURL = stand.URL, stand.URL })
	o.heldUntil = c.clock.Now().Add(20 * time.Hour).Truncate(time.Minute)
	o.capUntil = c.clock.Now().Add(30 * time.Hour).Truncate(time.Minute)
	return c, o, signedIn(t, c)
}

// page reads a page as its text, tags stripped and entities read.
func (b *browser) page(path string) (int, string, string) {
	b.t.Helper()
	resp, raw := b.do("GET", path, nil, nil)
	return resp.StatusCode, html.UnescapeString(stripTags(raw)), raw
}

func TestAMeetingPageSaysWhoIsComing(t *testing.T) {
	_, _, b := startAnswering(t)
	code, text, raw := b.page("/campaigns/meet")
	if code != http.StatusOK {
		t.Fatalf("meeting page = %d: %s", code, text)
	}
	for _, want := range []string{`id="rsvp-yes">2<`, `id="rsvp-no">1<`, `id="rsvp-none">0<`,
		`<a href="/contacts/k1">Ana Ruiz</a>`, `<a href="/contacts/k2">Bo Chen</a>`, `<a href="/contacts/k3">Cy</a>`,
		`href="/api/campaigns/meet/rsvps.csv"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("meeting page lacks %s", want)
		}
	}
	if !strings.Contains(text, "The meeting is Sun 8 Dec 2030 16:00 EST at Union Hall") {
		t.Errorf("meeting time not in its zone:\n%s", text)
	}
	if !strings.Contains(text, "Sun 1 Dec 2030, 10:00 EST") {
		t.Errorf("Ana's answer time not in the organization's zone:\n%s", text)
	}
}

func TestAPetitionPageCountsAgainstItsGoal(t *testing.T) {
	_, _, b := startAnswering(t)
	_, text, raw := b.page("/campaigns/sign")
	if !strings.Contains(text, "1 of 10 signed") || !strings.Contains(raw, `<progress id="sign-progress" max="100" value="10"`) {
		t.Errorf("petition page does not say 1 of 10:\n%s", text)
	}
	if !strings.Contains(raw, `<a href="/contacts/k4">Dee Park</a>`) || !strings.Contains(raw, `href="/api/campaigns/sign/signatures.csv"`) {
		t.Errorf("petition page lacks the list or its export:\n%s", raw)
	}
}

func TestResultsSayWhyTextsWait(t *testing.T) {
	c, o, b := startAnswering(t)
	_, text, _ := b.page("/campaigns/held")
	ny, _ := time.LoadLocation("America/New_York")
	now := c.clock.Now()
	for _, want := range []string{
		"Why 3 have not gone yet",
		"2 held by member's own hours: the next goes " + plain.Time(o.heldUntil, ny, now) + ", the last " + plain.Time(o.heldUntil.Add(time.Hour), ny, now) + ".",
		"1 held by daily or weekly cap: goes " + plain.Time(o.capUntil, ny, now) + ".",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("results page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "quiet hours") {
		t.Error("a test send's hold was counted with the campaign's")
	}
	if strings.Contains(text, "UTC") {
		t.Errorf("a time on the page is in UTC:\n%s", text)
	}
}

func TestAScheduledCampaignSaysWhenAndOffersCancel(t *testing.T) {
	c, o, b := startAnswering(t)
	_, text, raw := b.page("/campaigns/later")
	ny, _ := time.LoadLocation("America/New_York")
	if !strings.Contains(text, "Goes out "+plain.Time(o.heldUntil, ny, c.clock.Now())+".") {
		t.Errorf("scheduled page does not say when:\n%s", text)
	}
	if strings.Contains(raw, "/pause") || !strings.Contains(raw, `action="/campaigns/later/cancel"`) {
		t.Errorf("a scheduled campaign should offer Cancel, not Pause:\n%s", raw)
	}
}

func TestTestSendShowsErrorsOnTheForm(t *testing.T) {
	_, o, b := startAnswering(t)
	resp, page := b.do("POST", "/campaigns/draft/test", url.Values{"csrf": {b.csrf}, "phone": {"(212) 555-1990"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/draft/edit?notice=test" {
		t.Fatalf("test send = %d %s: %s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	if len(o.tests) != 1 || o.tests[0] != "(212) 555-1990" {
		t.Errorf("campaigns got %q; it reads the number as an import does", o.tests)
	}
	resp, page = b.do("POST", "/campaigns/draft/test", url.Values{"csrf": {b.csrf}, "phone": {"12"}}, nil)
	text := html.UnescapeString(stripTags(page))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="test-error"`) ||
		!strings.Contains(text, "“12” is not a phone number we can text") || !strings.Contains(page, `id="test-phone" name="phone" type="tel" autocomplete="tel" value="12"`) {
		t.Errorf("a refused number = %d, want the editor again with the error:\n%s", resp.StatusCode, page)
	}
}

func TestSettingsShowNoInternals(t *testing.T) {
	_, _, b := startAnswering(t)
	code, _, raw := b.page("/settings")
	if code != http.StatusOK {
		t.Fatalf("settings = %d", code)
	}
	for _, bad := range []string{"postgres://", "redis://", "http://127.0.0.1", "CONSOLE_"} {
		if strings.Contains(raw, bad) {
			t.Errorf("settings page shows %q", bad)
		}
	}
	if !strings.Contains(raw, "A sign-in lasts") {
		t.Error("settings page lost what an admin decides")
	}
}

// The send time picked in the editor is the organization's wall clock,
// whatever zone the organizer's browser is in, and the confirmation says
// it back in the organization's zone.
func TestTheSendTimeIsTheOrganizationsClock(t *testing.T) {
	_, _, b := startAnswering(t)
	_, text, _ := b.page("/campaigns/draft/edit")
	if !strings.Contains(text, "Send at (America/New_York time") {
		t.Errorf("the editor does not say whose time the send time is:\n%s", text)
	}
	code, text, raw := b.page("/campaigns/draft/launch?local=2030-12-08T16:00")
	if code != http.StatusOK || !strings.Contains(text, "will get this text at Sun 8 Dec 2030, 16:00 EST") ||
		!strings.Contains(raw, `name="at" value="2030-12-08T21:00:00Z"`) {
		t.Errorf("launch page = %d:\n%s", code, text)
	}
}
