package app_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/musterhq/muster/services/console/app"
)

// An admin sets the reply deadline on the settings page in hours: a bad
// value is shown on the form as typed, a good one is saved, audited and
// read back through the API; the API refuses what the form would.
func TestTheReplyDeadlineIsAnAdminsSetting(t *testing.T) {
	stand := httptest.NewServer(&services{})
	t.Cleanup(stand.Close)
	c := startConsole(t, 1000, func(cfg *app.Config) { cfg.DeliveryURL = stand.URL })
	admin := signedIn(t, c)
	var d struct {
		Minutes int `json:"minutes"`
	}
	if code := admin.apiJSON("GET", "/api/reply-deadline", "", nil, &d); code != http.StatusOK || d.Minutes != 240 {
		t.Fatalf("the default = %d %+v, want 240 minutes", code, d)
	}
	resp, page := admin.do("POST", "/settings/reply-deadline", url.Values{"csrf": {admin.csrf}, "hours": {"soon"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `id="deadline-error"`) || !strings.Contains(page, `value="soon"`) {
		t.Fatalf("a bad deadline = %d, want the form with the error and what was typed", resp.StatusCode)
	}
	resp, page = admin.do("POST", "/settings/reply-deadline", url.Values{"csrf": {admin.csrf}, "hours": {"0.01"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "between 5 minutes and 7 days") {
		t.Fatalf("too short a deadline = %d, want it refused on the form", resp.StatusCode)
	}
	if resp, _ := admin.do("POST", "/settings/reply-deadline", url.Values{"csrf": {admin.csrf}, "hours": {"2.5"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("saving 2.5 hours = %d", resp.StatusCode)
	}
	if code := admin.apiJSON("GET", "/api/reply-deadline", "", nil, &d); code != http.StatusOK || d.Minutes != 150 {
		t.Fatalf("after saving = %d %+v, want 150 minutes", code, d)
	}
	if code := admin.apiJSON("PUT", "/api/reply-deadline", "", map[string]int{"minutes": 2}, nil); code != http.StatusBadRequest {
		t.Errorf("2 minutes through the API = %d, want 400", code)
	}
	log, err := c.Store().AuditLog(t.Context(), 5)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range log {
		found = found || (e.Action == "settings.reply_deadline" && e.Detail == "150 minutes")
	}
	if !found {
		t.Errorf("the change is not in the audit log: %+v", log)
	}
}
