package stack_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// page fetches a console page with the signed-in client and returns its
// body and the CSRF token its forms carry.
func page(t *testing.T, c *http.Client, u string) (string, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := csrfField.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s (%d) has no CSRF token", u, resp.StatusCode)
	}
	return string(b), m[1]
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// signedIn is an HTTP client signed in to the console as the admin.
func signedIn(t *testing.T, st *stack.Stack) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, tok := page(t, c, st.ConsoleURL+"/signin")
	if code, body := postForm(t, c, st.ConsoleURL+"/signin", url.Values{"csrf": {tok}, "email": {consoleAdmin}, "password": {consolePassword}}); code != 200 {
		t.Fatalf("sign in = %d %.300s", code, body)
	}
	return c
}

// An organizer tags everyone a filter selects in one go; a name search
// is refused rather than widened to everyone.
func TestConsoleBulkTag(t *testing.T) {
	st := startConsoleStack(t)
	for _, p := range []string{"2125550181", "2125550182"} {
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "N" + p[8:], "phone": p, "tags": []string{"nights"}}, nil); code != 201 {
			t.Fatalf("create = %d", code)
		}
	}
	call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "Day", "phone": "2125550183", "tags": []string{"days"}}, nil)
	c := signedIn(t, st)
	body, tok := page(t, c, st.ConsoleURL+"/contacts?tag=nights")
	if !strings.Contains(body, "Tag everyone this filter selects") {
		t.Fatalf("no bulk tag form for a tag filter:\n%.500s", body)
	}
	if code, body := postForm(t, c, st.ConsoleURL+"/contacts/tags", url.Values{"csrf": {tok}, "tag": {"nights"}, "q": {"N"}, "label": {"strike-vote"}, "op": {"add"}}); code != 400 || !strings.Contains(body, "name search") {
		t.Fatalf("bulk tag with a name search = %d %.300s", code, body)
	}
	if code, body := postForm(t, c, st.ConsoleURL+"/contacts/tags", url.Values{"csrf": {tok}, "tag": {"nights"}, "label": {"Strike-Vote"}, "op": {"add"}}); code != 200 || !strings.Contains(body, "2 contacts changed") {
		t.Fatalf("bulk tag = %d %.300s", code, body)
	}
	var list struct {
		Contacts []struct{ FirstName string } `json:"contacts"`
	}
	call(t, "contacts", "GET", st.ContactsURL+"/contacts?tag=strike-vote", nil, &list)
	if len(list.Contacts) != 2 {
		t.Fatalf("tagged = %+v, want the two night-shift members", list.Contacts)
	}
}

// An admin changes the HELP reply and the send window in the console's
// settings page; delivery refuses settings that break a rule, takes the
// valid ones, a member's next HELP gets the new text, and the change is
// in the audit log with who made it.
func TestConsoleSettingsReachDelivery(t *testing.T) {
	st := startConsoleStack(t)
	c := signedIn(t, st)
	body, tok := page(t, c, st.ConsoleURL+"/settings")
	if !strings.Contains(body, "Save settings") {
		t.Fatalf("settings page offers no form to an admin:\n%.500s", body)
	}
	form := url.Values{
		"csrf": {tok}, "org_name": {"Local 1199"},
		"help_text":    {"Local 1199 alerts: call 555-0100 for a person. Msg & data rates may apply. Reply STOP to opt out."},
		"opt_out_text": {"Local 1199: you are unsubscribed. Reply START to come back."},
		"opt_in_text":  {"Local 1199: welcome back. Reply STOP to opt out."},
		"send_window":  {"06:00-23:00"}, "time_zone": {"America/New_York"}, "cap_per_day": {"3"}, "cap_per_week": {"10"},
	}
	if code, body := postForm(t, c, st.ConsoleURL+"/settings", form); code != http.StatusBadRequest || !strings.Contains(body, "08:00-21:00") {
		t.Fatalf("a window outside 08:00-21:00 = %d %.300s", code, body)
	}
	form.Set("send_window", "09:00-20:00")
	if code, body := postForm(t, c, st.ConsoleURL+"/settings", form); code != 200 || !strings.Contains(body, "Saved") {
		t.Fatalf("save = %d %.300s", code, body)
	}
	res, err := st.Sim.SendReply(context.Background(), sim.Reply{From: "+12125550177", To: "+15550001111", Body: "HELP"})
	if err != nil || !strings.Contains(res.Body, "call 555-0100") {
		t.Fatalf("HELP after the change = %+v, %v", res, err)
	}
	audit, _ := page(t, c, st.ConsoleURL+"/admin/audit")
	if !strings.Contains(audit, "settings.change") || !strings.Contains(audit, "09:00-20:00") {
		t.Fatalf("audit log lacks the change:\n%.800s", audit)
	}
}
