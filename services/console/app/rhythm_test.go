package app_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
)

// rhythmServices stands in for contacts and delivery: one member who
// texted NIGHTS and then PAUSE, the messaging settings, and the state
// rules, recording every rule and settings document it is sent.
type rhythmServices struct {
	mu        sync.Mutex
	rules     []map[string]any
	settings  []map[string]any
	forecasts []map[string]string
}

func (s *rhythmServices) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error": "service credentials required", "kind": "unauthorized"}`)
		return
	}
	rhythm := `{"window": "16:00-21:00", "paused_until": "2027-01-07T15:00:00Z", "fewer_texts": false, "language": "en", "channels": "both",
		"current": [], "history": [
		{"event_id": "e1", "channel": "sms", "address": "+12125550177", "change": "nights", "source": "inbound_sms", "evidence": "NIGHTS (SM0001)",
		 "window": "16:00-21:00", "paused_until": null, "occurred_at": "2026-12-08T15:00:00Z"},
		{"event_id": "e2", "channel": "sms", "address": "+12125550177", "change": "pause", "source": "inbound_sms", "evidence": "PAUSE (SM0002)",
		 "window": "16:00-21:00", "paused_until": "2027-01-07T15:00:00Z", "occurred_at": "2026-12-08T15:05:00Z"}]}`
	switch p := r.URL.Path; {
	case p == "/contacts/k1":
		_, _ = io.WriteString(w, `{"id": "k1", "first_name": "Noor", "phone": "+12125550177", "time_zone": "America/New_York", "rhythm": `+rhythm+`}`)
	case p == "/contacts/k1/consent":
		_, _ = io.WriteString(w, `{"contact_id": "k1", "current": [{"channel": "sms", "address": "+12125550177", "status": "subscribed"}], "history": [], "rhythm": `+rhythm+`}`)
	case p == "/contacts" && r.Method == http.MethodGet:
		q := r.URL.Query()
		if q.Get("tag") != "rally" || q.Get("sms_consent") != "subscribed" {
			_, _ = io.WriteString(w, `{"contacts": []}`)
			return
		}
		if q.Get("cursor") == "" {
			_, _ = io.WriteString(w, `{"contacts": [{"id": "k1", "phone": "+12125550177", "time_zone": "America/New_York"},
				{"id": "k2", "phone": "+12125550178", "attributes": {"shift": "Night", "state": "fl"}}], "next": "p2"}`)
			return
		}
		_, _ = io.WriteString(w, `{"contacts": [{"id": "k3", "phone": "+12125550179"}]}`)
	case p == "/forecast":
		var in struct {
			Members []map[string]string `json:"members"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		s.mu.Lock()
		s.forecasts = append(s.forecasts, in.Members...)
		s.mu.Unlock()
		if len(in.Members) == 2 {
			_, _ = io.WriteString(w, `{"now": 0, "later": {"member_window": 1, "state_rule": 1}, "last_at": "2026-12-08T21:00:00Z", "fewer_texts": 0}`)
			return
		}
		_, _ = io.WriteString(w, `{"now": 1, "later": {}, "last_at": null, "fewer_texts": 1}`)
	case strings.HasPrefix(p, "/conversations/"):
		_, _ = io.WriteString(w, `{"turns": []}`)
	case p == "/settings" && r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{"settings": {"org_name": "Local 1199", "help_text": "Reply STOP to opt out.", "opt_out_text": "x", "opt_in_text": "y",
			"send_window": "08:00-21:00", "time_zone": "America/New_York", "cap_per_day": 3, "cap_per_week": 10, "shift_aware_default": false}}`)
	case p == "/settings" && r.Method == http.MethodPut:
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		s.mu.Lock()
		s.settings = append(s.settings, in)
		s.mu.Unlock()
		_, _ = io.WriteString(w, `{"settings": {"org_name": "Local 1199", "send_window": "08:00-21:00", "time_zone": "America/New_York", "shift_aware_default": true}}`)
	case p == "/state-rules":
		_, _ = io.WriteString(w, `{"state_rules": [{"state": "TX", "windows": {"sun": "12:00-21:00", "mon": "09:00-21:00", "tue": "09:00-21:00",
			"wed": "09:00-21:00", "thu": "09:00-21:00", "fri": "09:00-21:00", "sat": "09:00-21:00"}, "max_per_24h": 0,
			"note": "Texas telephone solicitation", "updated_by": "migration 0014"}]}`)
	case strings.HasPrefix(p, "/state-rules/") && r.Method == http.MethodPut:
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		if days, _ := in["windows"].(map[string]any); days["mon"] == "07:00-20:00" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error": "windows: mon: must lie inside 08:00-21:00", "kind": "invalid", "field": "windows"}`)
			return
		}
		in["state"] = strings.TrimPrefix(p, "/state-rules/")
		s.mu.Lock()
		s.rules = append(s.rules, in)
		s.mu.Unlock()
		_, _ = io.WriteString(w, `{"state_rules": []}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error": "not here", "kind": "not_found"}`)
	}
}

func (s *rhythmServices) sent() ([]map[string]any, []map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.rules...), append([]map[string]any(nil), s.settings...)
}

// The member page says the member's own rhythm in plain words, in their
// time zone, with where each change came from.
func TestMemberPageShowsTheirRhythm(t *testing.T) {
	svc := &rhythmServices{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL, cfg.DeliveryURL = stand.URL, stand.URL })
	b := signedIn(t, c)
	resp, page := b.do("GET", "/contacts/k1", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("member page = %d", resp.StatusCode)
	}
	text := stripTags(page)
	for _, want := range []string{
		"Their rhythm",
		"Texts only 16:00–21:00 their time, since Tue 8 Dec (texted NIGHTS)",
		"Paused until Thu 7 Jan 10:00, since Tue 8 Dec (texted PAUSE)",
		"texted PAUSE (SM0002)",
		"Chose language: en",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the member page does not say %q", want)
		}
	}
}

// The settings page shows the state rules and the shift-aware default;
// an admin adds a state's row (with CSRF, in their own name, audited) and
// turns the default on; a viewer sees both and changes neither; a row
// delivery refuses shows why on the page.
func TestStateRulesAndShiftDefaultInSettings(t *testing.T) {
	svc := &rhythmServices{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL, cfg.DeliveryURL = stand.URL, stand.URL })
	ctx := context.Background()
	b := signedIn(t, c)
	_, page := b.do("GET", "/settings", nil, nil)
	text := stripTags(page)
	for _, want := range []string{"State rules", "TX", "09:00–21:00 Mon–Sat, Sun 12:00–21:00", "Texas telephone solicitation", "Members whose shift is night start with the NIGHTS window"} {
		if !strings.Contains(text, want) {
			t.Errorf("the settings page does not show %q", want)
		}
	}
	if !strings.Contains(page, `action="/settings/state-rules"`) {
		t.Fatal("an admin gets no state rule form")
	}

	form := url.Values{"state": {"fl"}, "weekday_window": {"08:00-20:00"}, "max_per_24h": {"3"}, "note": {"Florida telephone solicitation"}, "by": {"mallory"}}
	if resp, _ := b.do("POST", "/settings/state-rules", form, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a state rule without the CSRF token = %d, want 403", resp.StatusCode)
	}
	form.Set("csrf", b.csrf)
	resp, _ := b.do("POST", "/settings/state-rules", form, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving a state rule = %d", resp.StatusCode)
	}
	rules, _ := svc.sent()
	if len(rules) != 1 {
		t.Fatalf("delivery got %d rules, want 1", len(rules))
	}
	got := rules[0]
	days, _ := got["windows"].(map[string]any)
	if got["state"] != "FL" || days["sun"] != "08:00-20:00" || days["sat"] != "08:00-20:00" || len(days) != 7 ||
		got["max_per_24h"] != float64(3) || !strings.Contains(got["updated_by"].(string), adminEmail) {
		t.Fatalf("delivery was sent %v", got)
	}
	entries, err := c.Store().AuditLog(ctx, 1)
	if err != nil || len(entries) == 0 || entries[0].Action != "state_rule.change" || entries[0].Target != "state rule FL" {
		t.Fatalf("latest audit entry = %+v, %v", entries, err)
	}
	form.Set("weekday_window", "07:00-20:00")
	resp, page = b.do("POST", "/settings/state-rules", form, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(stripTags(page), "must lie inside 08:00-21:00") {
		t.Errorf("a refused rule = %d, want 400 saying why", resp.StatusCode)
	}

	settings := url.Values{"csrf": {b.csrf}, "org_name": {"Local 1199"}, "help_text": {"Reply STOP to opt out."}, "send_window": {"08:00-21:00"},
		"time_zone": {"America/New_York"}, "cap_per_day": {"3"}, "cap_per_week": {"10"}, "shift_aware_default": {"on"}}
	if resp, _ := b.do("POST", "/settings", settings, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("saving settings = %d", resp.StatusCode)
	}
	settings.Del("shift_aware_default")
	if resp, _ := b.do("POST", "/settings", settings, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("saving settings = %d", resp.StatusCode)
	}
	if _, docs := svc.sent(); len(docs) != 2 || docs[0]["shift_aware_default"] != true || docs[1]["shift_aware_default"] != false {
		t.Fatalf("delivery was sent %v, want the default turned on, then off", docs)
	}

	// A viewer sees the table, has no form, and is refused the change.
	hash, err := account.HashPassword("viewer password 123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store().CreateOrganizer(ctx, account.Organizer{Email: "viewer@muster.test", Role: account.RoleViewer, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	v := newBrowser(t, c.URL())
	if code, _ := v.signIn("viewer@muster.test", "viewer password 123"); code != http.StatusSeeOther {
		t.Fatal("viewer sign in failed")
	}
	_, page = v.do("GET", "/settings", nil, nil)
	if !strings.Contains(stripTags(page), "Texas telephone solicitation") || strings.Contains(page, `action="/settings/state-rules"`) {
		t.Error("a viewer does not see the table, or gets the form")
	}
	form.Set("csrf", v.csrf)
	form.Set("weekday_window", "08:00-20:00")
	if resp, _ := v.do("POST", "/settings/state-rules", form, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's state rule = %d, want 403", resp.StatusCode)
	}
	if rules, _ := svc.sent(); len(rules) != 1 {
		t.Fatalf("delivery got %d rules, want only the admin's", len(rules))
	}
}

// The launch confirmation says how many members get the text now and how
// many later, for what, and when the last goes in the organization's
// zone: the console pages the audience from contacts and delivery judges
// each page, given each member's zone, state and shift default.
func TestLaunchConfirmationForecastsTheRhythm(t *testing.T) {
	svc := &rhythmServices{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL, cfg.DeliveryURL = stand.URL, stand.URL })
	b := signedIn(t, c)
	resp, _ := b.do("POST", "/campaigns/new", url.Values{"csrf": {b.csrf}, "name": {"Rally"}, "kind": {"alert"}, "channel": {"sms"},
		"tag": {"rally"}, "body": {"Rally Friday. Reply STOP to opt out."}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose = %d", resp.StatusCode)
	}
	resp, page := b.do("GET", "/campaigns/c2/launch", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review = %d", resp.StatusCode)
	}
	text := html.UnescapeString(stripTags(page))
	for _, want := range []string{"1 get the text now, 2 later", "1 because of their state's rule", "1 because of their own hours",
		"The last goes Tue 8 Dec 16:00 EST", "1 of those now asked for fewer texts"} {
		if !strings.Contains(text, want) {
			t.Errorf("the launch confirmation does not say %q:\n%s", want, text)
		}
	}
	svc.mu.Lock()
	got := svc.forecasts
	svc.mu.Unlock()
	if len(got) != 3 || got[0]["time_zone"] != "America/New_York" || got[1]["default_window"] != "nights" || got[1]["state"] != "FL" {
		t.Fatalf("delivery was asked about %v", got)
	}
}
