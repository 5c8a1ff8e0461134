package stack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	console "github.com/musterhq/muster/services/console/app"
	delivery "github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/testkit"
)

// session is a console sign-in over HTTP: pages, and the API with the
// session's CSRF header on writes.
type session struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func (s *session) get(path string) (int, string) {
	s.t.Helper()
	resp, err := s.c.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *session) json(method, path string, v, out any) (int, string) {
	s.t.Helper()
	var body io.Reader
	if v != nil {
		b, _ := json.Marshal(v)
		body = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", s.csrf)
	resp, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %s: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

// inviteSteward has the admin invite a steward by email; the steward
// opens the emailed link, chooses a password and is signed in. It returns
// their session.
func inviteSteward(t *testing.T, st *stack.Stack, admin *http.Client, email, name string) *session {
	t.Helper()
	_, tok := page(t, admin, st.ConsoleURL+"/admin/organizers")
	if code, body := postForm(t, admin, st.ConsoleURL+"/admin/organizers", url.Values{"csrf": {tok}, "email": {email}, "name": {name}, "role": {"steward"}}); code != 200 {
		t.Fatalf("inviting %s = %d %.400s", email, code, body)
	}
	link := emailedLinkTo(t, st, email, 1)
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, tok = page(t, c, link)
	const password = "a steward's long password"
	if code, body := postForm(t, c, st.ConsoleURL+u.Path, url.Values{"csrf": {tok}, "token": {u.Query().Get("token")}, "new": {password}, "confirm": {password}}); code != 200 {
		t.Fatalf("%s choosing a password = %d %.300s", email, code, body)
	}
	_, tok = page(t, c, st.ConsoleURL+"/account")
	return &session{t: t, base: st.ConsoleURL, c: c, csrf: tok}
}

type conversationRow struct {
	Conversation string `json:"conversation"`
	Latest       struct {
		ID string `json:"id"`
	} `json:"latest"`
	Mine         bool   `json:"mine"`
	Overdue      bool   `json:"overdue"`
	AssigneeName string `json:"assignee_name"`
}

// TestStewardsOwnTheirMembers: two stewards, Ana and Ben, get members by
// hand and in bulk; a broadcast greets each member with their steward's
// first name; a member's reply lands in their steward's "mine" and
// nowhere in the other's; a steward cannot see another's members or
// conversations through the API or the pages, nor reach campaigns or
// exports; and, unanswered for five hours on the test clock (inside the
// organization's window), the reply is flagged overdue for everyone and
// counted on the dashboard. Then, in a browser at desktop and phone
// sizes, an organizer assigns on a member's page, in bulk from a filter,
// and rebalances a steward's members to others.
func TestStewardsOwnTheirMembers(t *testing.T) {
	clock := testkit.NewClock(t)
	clock.SetMidday(t, "America/New_York")
	st := startConsoleStack(t, withAdminToken, func(o *stack.Options) {
		o.DeliveryOptions = delivery.Options{Clock: clock.Now}
		o.ConsoleOptions = console.Options{Clock: clock.Now}
	})
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	admin := signedIn(t, st)
	ana := inviteSteward(t, st, admin, "ana@stewards.test", "Ana Reyes")
	ben := inviteSteward(t, st, admin, "ben@stewards.test", "Ben Okafor")

	var who struct {
		Assignees []struct{ ID, Email, Name, Role string } `json:"assignees"`
	}
	if code, raw := api.json("GET", "/api/assignees", nil, &who); code != 200 {
		t.Fatalf("assignees = %d %s", code, raw)
	}
	accounts := map[string]string{}
	for _, a := range who.Assignees {
		accounts[a.Email] = a.ID
	}
	if accounts["ana@stewards.test"] == "" || accounts["ben@stewards.test"] == "" {
		t.Fatalf("the stewards are not assignable: %+v", who)
	}

	// Five members: nights at North Clinic go to Ben in bulk; Cara (days)
	// and Dev (South Clinic) go to Ana by hand; Eve stays unassigned.
	type member struct{ name, phone, tag, worksite string }
	members := []member{
		{"Finn", "+12125550301", "nights", "North Clinic"},
		{"Gus", "+12125550302", "nights", "North Clinic"},
		{"Cara", "+12125550303", "days", "North Clinic"},
		{"Dev", "+12125550304", "nights", "South Clinic"},
		{"Eve", "+12125550305", "days", "South Clinic"},
	}
	ids := map[string]string{}
	for _, m := range members {
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/contacts", map[string]any{"first_name": m.name, "last_name": "Member", "phone": m.phone,
			"tags": []string{m.tag, "local"}, "attributes": map[string]string{"worksite": m.worksite}}, &c); code != 201 {
			t.Fatalf("create %s = %d %s", m.name, code, raw)
		}
		ids[m.name] = c.ID
	}
	var changed struct{ Changed int }
	if code, raw := api.json("POST", "/api/contacts/assign", map[string]any{"assignee": "ben@stewards.test",
		"filter": map[string]any{"all": []any{map[string]string{"tag": "nights"}, map[string]string{"field": "worksite", "op": "eq", "value": "North Clinic"}}}}, &changed); code != 200 || changed.Changed != 2 {
		t.Fatalf("bulk assign = %d %s, want 2 changed", code, raw)
	}
	for _, name := range []string{"Cara", "Dev"} {
		var c struct {
			AssigneeID   string `json:"assignee_id"`
			AssigneeName string `json:"assignee_name"`
		}
		if code, raw := api.json("PUT", "/api/contacts/"+ids[name]+"/assignee", map[string]string{"assignee": accounts["ana@stewards.test"]}, &c); code != 200 ||
			c.AssigneeID != accounts["ana@stewards.test"] || c.AssigneeName != "Ana Reyes" {
			t.Fatalf("assign %s = %d %s", name, code, raw)
		}
	}
	if code, raw := api.json("PUT", "/api/contacts/"+ids["Eve"]+"/assignee", map[string]string{"assignee": "nobody@stewards.test"}, nil); code != 400 {
		t.Errorf("assigning to an unknown account = %d %s, want 400", code, raw)
	}
	var history struct {
		Assignments []struct {
			Source       string `json:"source"`
			AssigneeName string `json:"assignee_name"`
		} `json:"assignments"`
	}
	if code, raw := api.json("GET", "/api/contacts/"+ids["Finn"]+"/assignments", nil, &history); code != 200 || len(history.Assignments) != 1 ||
		history.Assignments[0].Source != "bulk" || history.Assignments[0].AssigneeName != "Ben Okafor" {
		t.Errorf("Finn's assignment history = %d %s", code, raw)
	}

	// A broadcast reads as coming from each member's own steward.
	var camp struct{ ID string }
	if code, raw := api.json("POST", "/api/campaigns", map[string]any{"name": "From your steward", "kind": "alert", "channel": "sms",
		"body":     "Hi {{first_name}}, it's {{organizer_first_name|the union}}: rally Friday 5pm. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "local"}}, &camp); code != 201 {
		t.Fatalf("create campaign = %d %s", code, raw)
	}
	if code, raw := api.json("POST", "/api/campaigns/"+camp.ID+"/launch", map[string]any{}, nil); code != 202 && code != 200 {
		t.Fatalf("launch = %d %s", code, raw)
	}
	want := map[string]string{"Finn": "it's Ben:", "Gus": "it's Ben:", "Cara": "it's Ana:", "Dev": "it's Ana:", "Eve": "it's the union:"}
	testkit.Eventually(t, "the broadcast greeting each member from their steward", func() bool {
		for _, m := range members {
			found := false
			for _, msg := range outboxTo(st.Sim, m.phone, "outbound-api") {
				found = found || strings.HasPrefix(msg.Body, "Hi "+m.name+", "+want[m.name])
			}
			if !found {
				return false
			}
		}
		return true
	})

	// Cara answers: the reply lands in Ana's mine, not Ben's.
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: "+12125550303", To: "+15550001111", Body: "Can you call me after my shift?"}); err != nil {
		t.Fatal(err)
	}
	caraConv := "c:" + ids["Cara"]
	list := func(s *session, query string) []conversationRow {
		t.Helper()
		var out struct {
			Conversations []conversationRow `json:"conversations"`
		}
		if code, raw := s.json("GET", "/api/inbox/conversations"+query, nil, &out); code != 200 {
			t.Fatalf("conversations%s = %d %s", query, code, raw)
		}
		return out.Conversations
	}
	var caraRow conversationRow
	testkit.Eventually(t, "Cara's reply in Ana's mine", func() bool {
		for _, r := range list(ana, "?mine=1") {
			if r.Conversation == caraConv && r.Mine {
				caraRow = r
				return true
			}
		}
		return false
	})
	if caraRow.Overdue || caraRow.AssigneeName != "Ana Reyes" {
		t.Errorf("Cara's row = %+v, want Ana's and not overdue", caraRow)
	}
	for _, q := range []string{"?mine=1", "", "?status=all"} {
		if rows := list(ben, q); len(rows) != 0 {
			t.Errorf("Ben's inbox%s shows %+v, want none of Ana's members", q, rows)
		}
	}

	// Ben cannot see Ana's members or their conversations: the API and
	// the pages answer as if they did not exist; Ben's list is his own.
	var bens struct {
		Contacts []struct{ ID string } `json:"contacts"`
	}
	if code, raw := ben.json("GET", "/api/contacts?limit=50", nil, &bens); code != 200 || len(bens.Contacts) != 2 {
		t.Errorf("Ben's contacts = %d %s, want his two", code, raw)
	}
	for _, c := range bens.Contacts {
		if c.ID != ids["Finn"] && c.ID != ids["Gus"] {
			t.Errorf("Ben's list has %s, not his", c.ID)
		}
	}
	for _, probe := range []struct{ method, path string }{
		{"GET", "/api/contacts/" + ids["Cara"]},
		{"GET", "/api/contacts/" + ids["Cara"] + "/assignments"},
		{"GET", "/api/contacts/" + ids["Eve"]},
	} {
		if code, raw := ben.json(probe.method, probe.path, nil, nil); code != 404 {
			t.Errorf("Ben %s %s = %d %s, want 404", probe.method, probe.path, code, raw)
		}
	}
	if code, raw := ben.json("POST", "/api/inbox/"+caraRow.Latest.ID+"/reply", map[string]string{"body": "Not yours", "conversation": caraConv}, nil); code != 404 {
		t.Errorf("Ben answering Cara = %d %s, want 404", code, raw)
	}
	if code, raw := ben.json("POST", "/api/inbox/"+caraRow.Latest.ID+"/reply", map[string]string{"body": "Not yours", "conversation": "c:" + ids["Finn"]}, nil); code != 404 {
		t.Errorf("Ben answering Cara's item under his own member's conversation = %d %s, want 404", code, raw)
	}
	if code, raw := ben.json("POST", "/api/inbox/handled", map[string]any{"conversations": []string{caraConv}}, nil); code != 404 {
		t.Errorf("Ben marking Cara handled = %d %s, want 404", code, raw)
	}
	for _, path := range []string{"/api/campaigns", "/api/contacts/export.csv", "/api/messages", "/api/organizers"} {
		if code, raw := ben.json("GET", path, nil, nil); code != 403 {
			t.Errorf("Ben GET %s = %d %.200s, want 403", path, code, raw)
		}
	}
	if code, _ := ben.json("POST", "/api/campaigns/"+camp.ID+"/launch", map[string]any{}, nil); code != 403 {
		t.Errorf("Ben launching a campaign = %d, want 403", code)
	}
	for path, wantCode := range map[string]int{"/contacts/" + ids["Cara"]: 404, "/inbox?c=" + url.QueryEscape(caraConv): 404, "/campaigns": 403, "/contacts/assignments": 403, "/settings": 403} {
		if code, _ := ben.get(path); code != wantCode {
			t.Errorf("Ben's page %s = %d, want %d", path, code, wantCode)
		}
	}
	if code, body := ben.get("/contacts"); code != 200 || !strings.Contains(body, "Finn") || strings.Contains(body, "Cara") {
		t.Errorf("Ben's members page = %d, want Finn and not Cara", code)
	}
	if code, body := ana.get("/inbox?mine=1"); code != 200 || !strings.Contains(body, "Can you call me after my shift?") {
		t.Errorf("Ana's inbox page = %d, want Cara's reply", code)
	}

	// Nothing is overdue yet; five hours later on the clock (noon to five
	// in New York, inside the organization's sending window), Cara's
	// reply is flagged for everyone and counted on the dashboard.
	if rows := list(&session{t: t, base: st.ConsoleURL, c: admin}, "?overdue=1"); len(rows) != 0 {
		t.Fatalf("overdue before the deadline: %+v", rows)
	}
	clock.Advance(5 * time.Hour)
	overdue := list(&session{t: t, base: st.ConsoleURL, c: admin}, "?overdue=1")
	if len(overdue) != 1 || overdue[0].Conversation != caraConv || !overdue[0].Overdue {
		t.Fatalf("overdue after five hours = %+v, want Cara's", overdue)
	}
	if body, _ := page(t, admin, st.ConsoleURL+"/"); !strings.Contains(body, `id="replies-overdue">1<`) {
		t.Errorf("the dashboard does not count the overdue reply:\n%s", body)
	}
	if body, _ := page(t, admin, st.ConsoleURL+"/inbox?overdue=1"); !strings.Contains(body, "overdue-badge") || !strings.Contains(body, "Cara") {
		t.Errorf("the inbox's Overdue filter does not show Cara's reply flagged:\n%s", body)
	}
	if rows := list(ben, "?overdue=1"); len(rows) != 0 {
		t.Errorf("another steward sees overdue replies of members not theirs: %+v", rows)
	}

	// Ana answers; Cara gets it.
	if code, raw := ana.json("POST", "/api/inbox/"+caraRow.Latest.ID+"/reply", map[string]string{"body": "Sure, I'll call at 7.", "conversation": caraConv}, nil); code != 202 {
		t.Fatalf("Ana answering Cara = %d %s", code, raw)
	}
	testkit.Eventually(t, "Ana's answer to Cara", func() bool {
		for _, m := range outboxTo(st.Sim, "+12125550303", "outbound-api") {
			if m.Body == "Sure, I'll call at 7." {
				return true
			}
		}
		return false
	})

	assignInABrowser(t, st, ids)
	importAssignees(t, api, ben)
}

// importAssignees: a CSV's assignee column assigns Hal to Ben (his email
// in another case) and Ivy to Ana; an unknown email is its line in the
// error report and the rest imports; Hal is on Ben's members page.
func importAssignees(t *testing.T, api publicAPI, ben *session) {
	csv := "First Name,Cell,Assignee\n" +
		"Hal,+12125550306,BEN@stewards.test\n" +
		"Ivy,+12125550307,ana@stewards.test\n" +
		"Jo,+12125550308,nobody@stewards.test\n"
	var imp struct {
		ID, State string
		Rejected  int `json:"rejected"`
		Imported  int `json:"imported"`
	}
	if code, raw := api.do("POST", "/api/imports?source=assigned.csv", "text/csv", csv, &imp); code != http.StatusAccepted || imp.ID == "" {
		t.Fatalf("start import = %d %s", code, raw)
	}
	testkit.Eventually(t, "the import to finish", func() bool {
		api.json("GET", "/api/imports/"+imp.ID, nil, &imp)
		return imp.State == "done" || imp.State == "failed"
	})
	if imp.State != "done" || imp.Rejected != 1 || imp.Imported != 2 {
		t.Fatalf("import = %+v, want done with 2 imported and 1 rejected", imp)
	}
	if code, report := api.do("GET", "/api/imports/"+imp.ID+"/errors.csv", "", "", nil); code != 200 ||
		!strings.Contains(report, "\n4,Assignee,") || !strings.Contains(report, "assignee nobody@stewards.test is not an organizer, admin or steward") {
		t.Errorf("error report = %d %q, want line 4's unknown assignee", code, report)
	}
	var bens struct {
		Contacts []struct {
			ID        string `json:"id"`
			FirstName string `json:"first_name"`
		} `json:"contacts"`
	}
	code, raw := ben.json("GET", "/api/contacts?limit=50", nil, &bens)
	hal := ""
	for _, c := range bens.Contacts {
		switch c.FirstName {
		case "Hal":
			hal = c.ID
		case "Ivy", "Jo":
			t.Errorf("Ben's members include %s", c.FirstName)
		}
	}
	if code != 200 || hal == "" {
		t.Fatalf("Ben's members after the import = %d %s, want Hal", code, raw)
	}
	var history struct {
		Assignments []struct{ Source string } `json:"assignments"`
	}
	if code, raw := ben.json("GET", "/api/contacts/"+hal+"/assignments", nil, &history); code != 200 ||
		len(history.Assignments) != 1 || history.Assignments[0].Source != "import" {
		t.Errorf("Hal's history = %d %s, want one import", code, raw)
	}
	if code, body := ben.get("/contacts"); code != 200 || !strings.Contains(body, "Hal") || strings.Contains(body, "Ivy") {
		t.Errorf("Ben's members page = %d, want Hal and not Ivy", code)
	}
}

// assignInABrowser: an organizer assigns Eve on her page, everyone tagged
// days at South Clinic in bulk, and moves all of Ben's members to Ana,
// at desktop and phone sizes, without sideways scrolling.
func assignInABrowser(t *testing.T, st *stack.Stack, ids map[string]string) {
	base := st.ConsoleURL
	shots := os.Getenv("MUSTER_SCREENSHOTS")
	ctx := browserContext(t)
	signIn(t, ctx, base, consoleAdmin, consolePassword)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
		to, back      string
	}{{"desktop", 1280, 800, false, "ana@stewards.test", "ben@stewards.test"}, {"phone", 390, 844, true, "ben@stewards.test", "ana@stewards.test"}} {
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		run(t, ctx, "sizing the window for a "+size.name, chromedp.EmulateViewport(size.width, size.height, opts...))
		fits := func(what string) {
			t.Helper()
			var wide bool
			run(t, ctx, "measuring "+what, chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &wide))
			if wide {
				t.Errorf("%s scrolls sideways on a %s", what, size.name)
			}
		}
		label := func(email string) string {
			if strings.HasPrefix(email, "ana") {
				return "Ana Reyes"
			}
			return "Ben Okafor"
		}

		// By hand, on Eve's page.
		var value string
		run(t, ctx, "opening Eve's page", chromedp.Navigate(base+"/contacts/"+ids["Eve"]), chromedp.WaitVisible("#assign-one", chromedp.ByQuery))
		run(t, ctx, "finding "+size.to+" in the list", chromedp.Evaluate(`[...document.querySelectorAll('#assignee option')].find(o => o.textContent.startsWith(`+jsString(label(size.to))+`)).value`, &value))
		run(t, ctx, "assigning Eve",
			chromedp.SetValue("#assignee", value, chromedp.ByQuery),
			chromedp.Click("#assign-go", chromedp.ByQuery),
			chromedp.WaitVisible("#contact-notice", chromedp.ByQuery))
		waitText(t, ctx, "#assignee-now", label(size.to))
		fits("a member's page with the assignment")
		if !size.mobile {
			shoot(t, ctx, shots, "assign-member") // both sizes
			run(t, ctx, "back to a desktop", chromedp.EmulateViewport(size.width, size.height))
		}

		// In bulk, from the list filtered by tag and worksite.
		run(t, ctx, "filtering the contacts", chromedp.Navigate(base+"/contacts?tag=days&worksite=South+Clinic"), chromedp.WaitVisible("#bulk-assign", chromedp.ByQuery))
		run(t, ctx, "finding "+size.back, chromedp.Evaluate(`[...document.querySelectorAll('#bulk-assignee option')].find(o => o.textContent.startsWith(`+jsString(label(size.back))+`)).value`, &value))
		run(t, ctx, "assigning in bulk",
			chromedp.SetValue("#bulk-assignee", value, chromedp.ByQuery),
			chromedp.Click("#bulk-assign-go", chromedp.ByQuery),
			chromedp.WaitVisible(".notice", chromedp.ByQuery))
		waitText(t, ctx, ".notice", "Assigned to "+label(size.back)+": 1 members changed.")
		waitText(t, ctx, "#contacts", label(size.back))
		fits("the contacts list with bulk assign")
		if !size.mobile {
			shoot(t, ctx, shots, "assign-bulk") // both sizes
			run(t, ctx, "back to a desktop", chromedp.EmulateViewport(size.width, size.height))
		}

		// Rebalance: everyone of size.back's moves to size.to.
		run(t, ctx, "opening the assignments", chromedp.Navigate(base+"/contacts/assignments"), chromedp.WaitVisible("#rebalance-form", chromedp.ByQuery))
		run(t, ctx, "refusing a rebalance to nobody",
			chromedp.Evaluate(`document.querySelector('#rebalance-from').value = [...document.querySelectorAll('#rebalance-from option')].find(o => o.textContent.startsWith(`+jsString(label(size.back))+`)).value`, nil),
			chromedp.Click("#rebalance-go", chromedp.ByQuery),
			chromedp.WaitVisible("#rebalance-error", chromedp.ByQuery))
		run(t, ctx, "rebalancing",
			chromedp.Evaluate(`document.querySelector('#rebalance-from').value = [...document.querySelectorAll('#rebalance-from option')].find(o => o.textContent.startsWith(`+jsString(label(size.back))+`)).value`, nil),
			chromedp.Evaluate(`[...document.querySelectorAll('#rebalance-form input[name=to]')].find(i => i.nextElementSibling.textContent.startsWith(`+jsString(label(size.to))+`)).checked = true`, nil),
			chromedp.Click("#rebalance-go", chromedp.ByQuery),
			chromedp.WaitVisible("#assign-notice", chromedp.ByQuery))
		waitText(t, ctx, "#assign-notice", "Moved")
		var backCount string
		run(t, ctx, "reading the counts", chromedp.Evaluate(`[...document.querySelectorAll('#assignees tbody tr')].find(r => r.textContent.includes(`+jsString(label(size.back))+`)).querySelector('.count').textContent`, &backCount))
		if backCount != "0" {
			t.Errorf("%s still has %s members after the rebalance on a %s", label(size.back), backCount, size.name)
		}
		fits("the assignments page")
		if !size.mobile {
			shoot(t, ctx, shots, "assign-rebalance") // both sizes
			run(t, ctx, "back to a desktop", chromedp.EmulateViewport(size.width, size.height))
		}
	}
}

// jsString quotes s for a script.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
