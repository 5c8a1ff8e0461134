package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	consoledb "github.com/musterhq/muster/services/console/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/testkit"
)

// publicAPI calls the console's /api with a token, as a script would.
type publicAPI struct {
	t     *testing.T
	base  string
	token string
}

// do sends body (JSON unless ct says otherwise) and decodes a JSON answer
// into out; it returns the status and the raw answer.
func (a publicAPI) do(method, path, ct, body string, out any) (int, string) {
	a.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.base+path, r)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

// json sends v as JSON.
func (a publicAPI) json(method, path string, v, out any) (int, string) {
	a.t.Helper()
	body := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			a.t.Fatal(err)
		}
		body = string(b)
	}
	return a.do(method, path, "", body, out)
}

type apiError struct {
	Error, Kind, Field string
}

// TestE2EPublicAPI is an organizer's script doing through the console's
// public API, with the admin token make run writes, what used to need the
// services' own APIs: a contact, a CSV import with a bad row reported by
// its line, bulk tags, an SMS campaign to the tag, the message log for
// it a page at a time, an opt-out that shows in the suppression list,
// and the one JSON error shape for 401, 403, 404 and 405.
func TestE2EPublicAPI(t *testing.T) {
	st, err := stack.Start(context.Background(), stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB: testkit.Database(t, deliverydb.FS), ConsoleDB: testkit.Database(t, consoledb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		ConsoleAddr: "127.0.0.1:0", ConsoleAdminEmail: consoleAdmin, ConsoleAdminPassword: consolePassword, AdminToken: true,
		AutoCallbacks: true, CallbackDelay: 20 * time.Millisecond,
		RedisPrefix: redisPrefix(t), DeliveryOptions: delivery.Options{Clock: middayClock(t)},
		Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}

	// A contact.
	var ana struct{ ID, Phone string }
	if code, raw := api.json("POST", "/api/contacts", map[string]any{"first_name": "Ana", "phone": "(212) 555-0101", "tags": []string{"rally"}}, &ana); code != 201 || ana.Phone != "+12125550101" {
		t.Fatalf("create contact = %d %s", code, raw)
	}

	// An import with one bad row, on line 3 of the file.
	csv := "first_name,phone,tags\n" +
		"Bo,212-555-0102,batch\n" +
		"Cy,not a phone,batch\n" +
		"Dee,+1 212 555 0104,batch\n"
	var imp struct {
		ID, State string
		Rejected  int `json:"rejected"`
		Imported  int `json:"imported"`
	}
	if code, raw := api.do("POST", "/api/imports?source=members.csv", "text/csv", csv, &imp); code != http.StatusAccepted || imp.ID == "" {
		t.Fatalf("start import = %d %s", code, raw)
	}
	testkit.Eventually(t, "the import to finish", func() bool {
		api.json("GET", "/api/imports/"+imp.ID, nil, &imp)
		return imp.State == "done" || imp.State == "failed"
	})
	if imp.State != "done" || imp.Rejected != 1 || imp.Imported != 2 {
		t.Fatalf("import = %+v, want done with 2 imported and 1 rejected", imp)
	}
	code, report := api.do("GET", "/api/imports/"+imp.ID+"/errors.csv", "", "", nil)
	// csvsafe starts the file with a BOM (spreadsheets then read UTF-8).
	lines := strings.Split(strings.TrimSpace(strings.TrimPrefix(report, "\ufeff")), "\n")
	if code != 200 || len(lines) != 2 || !strings.HasPrefix(lines[0], "line,") || !strings.HasPrefix(lines[1], "3,") || !strings.Contains(lines[1], "not a phone") {
		t.Fatalf("error report = %d %q, want one row for line 3", code, report)
	}

	// Tag the imported members into the rally, in bulk.
	var tagged struct{ Changed int }
	if code, raw := api.json("POST", "/api/contacts/tags", map[string]any{"filter": map[string]string{"tag": "batch"}, "add": []string{"rally"}}, &tagged); code != 200 || tagged.Changed != 2 {
		t.Fatalf("bulk tag = %d %s, want 2 changed", code, raw)
	}
	// The rally, a page of two at a time: every member once.
	type contactPage struct {
		Contacts []struct {
			ID        string `json:"id"`
			FirstName string `json:"first_name"`
		} `json:"contacts"`
		Next string `json:"next_cursor"`
	}
	byName := map[string]string{}
	cursor := ""
	for pages := 0; ; pages++ {
		var p contactPage
		if code, raw := api.json("GET", "/api/contacts?tag=rally&limit=2&cursor="+url.QueryEscape(cursor), nil, &p); code != 200 || pages > 3 {
			t.Fatalf("contacts page %d = %d %s", pages, code, raw)
		}
		for _, c := range p.Contacts {
			byName[c.FirstName] = c.ID
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(byName) != 3 || byName["Bo"] == "" {
		t.Fatalf("the rally = %v, want Ana, Bo and Dee", byName)
	}

	// An SMS campaign to the tag, launched.
	var c struct{ ID, Status string }
	if code, raw := api.json("POST", "/api/campaigns", map[string]any{
		"name": "Rally", "channel": "sms", "audience": map[string]string{"tag": "rally"},
		"body": "Hi {{first_name|friend}}, rally Friday 5pm at City Hall. Reply STOP to opt out.",
	}, &c); code != 201 || c.ID == "" {
		t.Fatalf("create campaign = %d %s", code, raw)
	}
	if code, raw := api.json("POST", "/api/campaigns/"+c.ID+"/launch", nil, nil); code != http.StatusAccepted {
		t.Fatalf("launch = %d %s", code, raw)
	}

	// The message log for it, through the API, two at a time.
	type messagePage struct {
		Messages []struct{ ID, To, Status, Body string } `json:"messages"`
		Next     string                                  `json:"next_cursor"`
	}
	var all []string
	testkit.Eventually(t, "three texts in the log", func() bool {
		all = all[:0]
		cursor := ""
		for pages := 0; pages < 4; pages++ {
			var p messagePage
			if code, raw := api.json("GET", "/api/messages?campaign_id="+c.ID+"&limit=2&cursor="+url.QueryEscape(cursor), nil, &p); code != 200 {
				t.Fatalf("message log = %d %s", code, raw)
			}
			for _, m := range p.Messages {
				all = append(all, m.To)
			}
			if cursor = p.Next; cursor == "" {
				break
			}
		}
		return len(all) == 3
	})
	for _, to := range []string{"+12125550101", "+12125550102", "+12125550104"} {
		if !strings.Contains(strings.Join(all, " "), to) {
			t.Errorf("the log for the campaign has %v, missing %s", all, to)
		}
	}

	// Bo is opted out by an organizer; delivery suppresses the number,
	// and the suppression list shows it to a search.
	var out struct{ Status, Address string }
	if code, raw := api.json("POST", "/api/contacts/"+byName["Bo"]+"/opt-out", map[string]string{"channel": "sms", "reason": "asked at the meeting"}, &out); code != 200 || out.Address != "+12125550102" {
		t.Fatalf("opt out = %d %s", code, raw)
	}
	testkit.Eventually(t, "Bo on the suppression list", func() bool {
		var sup struct {
			Suppressions []struct{ Address, Channel string } `json:"suppressions"`
			Next         *string                             `json:"next_cursor"`
		}
		if code, raw := api.json("GET", "/api/suppressions?q=5550102", nil, &sup); code != 200 || sup.Next == nil {
			t.Fatalf("suppressions = %d %s", code, raw)
		}
		return len(sup.Suppressions) == 1 && sup.Suppressions[0].Address == "+12125550102" && sup.Suppressions[0].Channel == "sms"
	})
	var consent struct {
		History []struct{ Change, Source, Evidence string } `json:"history"`
	}
	if code, raw := api.json("GET", "/api/contacts/"+byName["Bo"]+"/consent", nil, &consent); code != 200 || len(consent.History) == 0 ||
		!strings.Contains(consent.History[len(consent.History)-1].Evidence, "token make run") {
		t.Fatalf("consent history = %d %s, want the opt-out with the token as evidence", code, raw)
	}

	// A viewer reads and is refused a change; nobody without a token gets
	// in; a path or method the API does not have is JSON too.
	var viewer struct{ Token string }
	if code, raw := api.json("POST", "/api/tokens", map[string]any{"name": "reporting", "role": "viewer"}, &viewer); code != 201 {
		t.Fatalf("viewer token = %d %s", code, raw)
	}
	reader := publicAPI{t: t, base: st.ConsoleURL, token: viewer.Token}
	if code, raw := reader.json("GET", "/api/campaigns/"+c.ID+"/results", nil, nil); code != 200 {
		t.Errorf("viewer reading results = %d %s", code, raw)
	}
	anonymous := publicAPI{t: t, base: st.ConsoleURL}
	for _, tc := range []struct {
		who    publicAPI
		method string
		path   string
		status int
		kind   string
	}{
		{reader, "POST", "/api/contacts", 403, "forbidden"},
		{reader, "GET", "/api/contacts/export.csv", 403, "forbidden"},
		{anonymous, "GET", "/api/contacts", 401, "unauthorized"},
		{anonymous, "GET", "/api/suppressions", 401, "unauthorized"},
		{api, "GET", "/api/no-such-thing", 404, "not_found"},
		{api, "GET", "/api/contacts/" + byName["Bo"] + "/nothing", 404, "not_found"},
		{api, "DELETE", "/api/campaigns/" + c.ID, 405, "method_not_allowed"},
	} {
		var e apiError
		if code, raw := tc.who.json(tc.method, tc.path, map[string]string{"first_name": "X", "phone": "2125550199"}, &e); code != tc.status || e.Kind != tc.kind || e.Error == "" {
			t.Errorf("%s %s = %d %s, want %d %s in the JSON error shape", tc.method, tc.path, code, raw, tc.status, tc.kind)
		}
	}
}
