package stack_test

import (
	"context"
	"fmt"
	"github.com/musterhq/muster/shared/testkit"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
)

// phoneWidth is the narrowest screen the console is laid out for: an
// ordinary phone held upright.
const phoneWidth = 390

// TestEveryConsolePageIsAccessibleAndFitsAPhone signs in as an admin on a
// platform with members, a meeting, a petition and replies, then follows
// every link the console shows (one page per kind of address: one member's
// page stands for all) and checks each page twice: axe-core finds no
// serious or critical violation at desktop width, and at phone width
// nothing is wider than the screen, so no page scrolls sideways. A new
// page is checked as soon as some page links to it.
func TestEveryConsolePageIsAccessibleAndFitsAPhone(t *testing.T) {
	axe, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	st := startConsoleStack(t, withAdminToken)
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	extra := seedOrganizingDay(t, api, st)

	ctx := browserContext(t)
	// The pages before signing in.
	for _, page := range []string{"/signin", "/account/forgot"} {
		run(t, ctx, "opening "+page, chromedp.Navigate(st.ConsoleURL+page), chromedp.WaitReady("main", chromedp.ByQuery))
		if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
			t.Errorf("%s: accessibility violations:\n  %s", page, strings.Join(v, "\n  "))
		}
		if wide := widerThanPhone(t, ctx); len(wide) > 0 {
			t.Errorf("%s scrolls sideways at %d px: %s", page, phoneWidth, strings.Join(wide, "; "))
		}
		shoot(t, ctx, os.Getenv("MUSTER_SCREENSHOTS"), shotName(page))
	}
	signIn(t, ctx, st.ConsoleURL, consoleAdmin, consolePassword)

	// The checks can fail: an unlabelled field and a box wider than a
	// phone, put on the dashboard, are both caught.
	run(t, ctx, "breaking the dashboard on purpose", chromedp.Navigate(st.ConsoleURL+"/campaigns"), chromedp.WaitReady("main", chromedp.ByQuery),
		chromedp.Evaluate(`(() => { const m = document.querySelector('main');
			m.appendChild(document.createElement('input'));
			const d = document.createElement('div'); d.style.width = '900px'; d.textContent = 'wide'; m.appendChild(d); })()`, nil))
	if v := axeViolations(t, ctx, string(axe)); !strings.Contains(strings.Join(v, " "), "label") {
		t.Errorf("axe-core did not find an unlabelled field: %v", v)
	}
	if wide := widerThanPhone(t, ctx); len(wide) == 0 {
		t.Error("a 900 px box was not found too wide for a phone")
	}

	visited := crawlConsole(t, ctx, st.ConsoleURL, extra, func(page string) {
		if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
			t.Errorf("%s: accessibility violations:\n  %s", page, strings.Join(v, "\n  "))
		}
		if wide := widerThanPhone(t, ctx); len(wide) > 0 {
			t.Errorf("%s scrolls sideways at %d px: %s", page, phoneWidth, strings.Join(wide, "; "))
		}
		shoot(t, ctx, os.Getenv("MUSTER_SCREENSHOTS"), shotName(page))
	})
	t.Logf("checked %d pages: %v", len(visited), keys(visited))

	// What members open from their texts: the signing page, the RSVP
	// page, their preferences page.
	links := memberLinks(st)
	if len(links) < 2 {
		t.Errorf("members were sent %d links (%v), want the signing and preferences pages at least", len(links), links)
	}
	for _, l := range links {
		run(t, ctx, "opening "+l, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(l), chromedp.WaitReady("body", chromedp.ByQuery))
		if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
			t.Errorf("%s: accessibility violations:\n  %s", l, strings.Join(v, "\n  "))
		}
		if wide := widerThanPhone(t, ctx); len(wide) > 0 {
			t.Errorf("%s scrolls sideways at %d px: %s", l, phoneWidth, strings.Join(wide, "; "))
		}
	}
	// The crawl must have reached the pages an organizer lives in, or it
	// checked too little to mean anything.
	for _, want := range []string{"/", "/contacts", "/contacts/{id}", "/contacts/imports/{id}", "/chart", "/campaigns", "/campaigns/{id}", "/campaigns/{id}/launch", "/inbox", "/optouts", "/settings", "/admin/organizers", "/admin/audit"} {
		if !visited[want] {
			t.Errorf("the crawl never reached %s (reached %v)", want, keys(visited))
		}
	}
}

// seedOrganizingDay gives the console something on every page: members
// with tags and worksites, a launched meeting with an RSVP, a petition, a
// draft, an import with a bad row, a reply waiting in the inbox, a HELP
// and an opt-out. It returns the pages no link leads to (the import's,
// reached from the upload; the launch confirmation, from a form).
func seedOrganizingDay(t *testing.T, api publicAPI, st *stack.Stack) []string {
	t.Helper()
	phones := []string{"+12125550141", "+12125550142", "+12125550143", "+12125550143"}
	for i, name := range []string{"Ana", "Bo", "Cy"} {
		body := map[string]any{"first_name": name, "last_name": "Member", "phone": phones[i], "tags": []string{"stewards"},
			"attributes": map[string]string{"worksite": "Mercy Clinic", "shift": "nights"}}
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/contacts", body, &c); code != 201 {
			t.Fatalf("creating %s = %d %s", name, code, raw)
		}
		// Ana and Bo are assessed, so the chart and the member's page
		// show levels and a rating history.
		if i < 2 {
			if code, raw := api.json("PUT", "/api/contacts/"+c.ID+"/rating", map[string]any{"rating": i + 1, "note": "talked at the break"}, nil); code != 200 {
				t.Fatalf("rating %s = %d %s", name, code, raw)
			}
		}
	}
	for _, c := range []map[string]any{
		{"name": "Stewards meeting", "kind": "meeting", "channel": "sms",
			"body":     "Local 1199: {{meeting_title}} is {{meeting_time}} at {{meeting_place}}. Reply YES or NO. Reply STOP to opt out.",
			"audience": map[string]string{"tag": "stewards"},
			"meeting":  map[string]any{"title": "the stewards' meeting", "starts_at": time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339), "place": "Union Hall"}},
		{"name": "Staffing petition", "kind": "petition", "channel": "sms",
			"body":     "Local 1199: sign for safe staffing: {{sign_link}} Reply STOP to opt out.",
			"audience": map[string]string{"tag": "stewards"}, "petition": map[string]any{"goal": 10}},
	} {
		var created struct{ ID string }
		if code, raw := api.json("POST", "/api/campaigns", c, &created); code != 201 {
			t.Fatalf("creating %s = %d %s", c["name"], code, raw)
		}
		if code, raw := api.json("POST", "/api/campaigns/"+created.ID+"/launch", map[string]any{}, nil); code != 202 && code != 200 {
			t.Fatalf("launching %s = %d %s", c["name"], code, raw)
		}
	}
	// A draft, so the editor and the launch confirmation are linked.
	draft := map[string]any{"name": "Night shift check-in", "kind": "alert", "channel": "sms",
		"body": "Local 1199: how are nights going, {{first_name}}? Reply STOP to opt out.", "audience": map[string]string{"tag": "stewards"}}
	var created struct{ ID string }
	if code, raw := api.json("POST", "/api/campaigns", draft, &created); code != 201 {
		t.Fatalf("creating the draft = %d %s", code, raw)
	}
	// An import with a bad row, so its page has an error report.
	var imp struct{ ID, State string }
	csv := "first_name,phone,tags\nDee,212-555-0144,nurses\nEd,not a phone,nurses\n"
	if code, raw := api.do("POST", "/api/imports?source=members.csv", "text/csv", csv, &imp); code != 202 {
		t.Fatalf("starting an import = %d %s", code, raw)
	}
	testkit.Eventually(t, "the import to finish", func() bool {
		api.json("GET", "/api/imports/"+imp.ID, nil, &imp)
		return imp.State == "done"
	})
	for i, body := range []string{"YES", "Is there parking at the hall?", "HELP", "STOP"} {
		testkit.Eventually(t, "the invitation to "+phones[i], func() bool { return len(outboxTo(st.Sim, phones[i], "outbound-api")) > 0 })
		if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones[i], To: "+15550001111", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"/contacts/imports/" + imp.ID, "/campaigns/" + created.ID + "/launch"}
}

// memberLink finds the web addresses in texts.
var memberLink = regexp.MustCompile(`https?://[^\s]+`)

// memberLinks lists, one per kind of page, the links the members were
// texted.
func memberLinks(st *stack.Stack) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range st.Sim.Outbox() {
		for _, l := range memberLink.FindAllString(m.Body, -1) {
			u, err := url.Parse(strings.TrimRight(l, ".,)"))
			if err != nil || seen[u.Host+pageKind(u.Path)] {
				continue
			}
			seen[u.Host+pageKind(u.Path)] = true
			out = append(out, u.String())
		}
	}
	return out
}

// idSegment is a path segment that names one record: a UUID or a long
// token.
var idSegment = regexp.MustCompile(`^[0-9A-Za-z_.~-]{20,}$`)

// pageKind is the address with each record's id replaced by {id}, so one
// member's page stands for every member's.
func pageKind(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if idSegment.MatchString(p) {
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

// crawlConsole visits, breadth first from the dashboard and the extra
// pages, every console page reachable by a link, one per kind of address, and calls check on
// each once it has loaded. Downloads, the event stream, sign-out and
// anything off the console are left alone.
func crawlConsole(t *testing.T, ctx context.Context, base string, extra []string, check func(page string)) map[string]bool {
	t.Helper()
	visited := map[string]bool{}
	queue := append([]string{"/"}, extra...)
	for len(queue) > 0 && len(visited) < 60 {
		path := queue[0]
		queue = queue[1:]
		kind := pageKind(path)
		if visited[kind] {
			continue
		}
		visited[kind] = true
		var links []string
		run(t, ctx, "opening "+path,
			chromedp.EmulateViewport(1280, 800),
			chromedp.Navigate(base+path),
			chromedp.WaitReady("main", chromedp.ByQuery),
			chromedp.Evaluate(`Array.from(document.querySelectorAll('a[href]')).map(a => a.href)`, &links),
		)
		check(path)
		for _, l := range links {
			u, err := url.Parse(l)
			if err != nil || l == "" || !strings.HasPrefix(l, base) || skipCrawl(u.Path) {
				continue
			}
			next := u.Path
			if u.RawQuery != "" {
				next += "?" + u.RawQuery
			}
			if !visited[pageKind(u.Path)] {
				queue = append(queue, next)
			}
		}
	}
	return visited
}

// shotName names a page's screenshots in docs/screenshots: a record's
// page after its kind in the singular ("/campaigns/{id}/edit" is
// "campaign-edit", "/contacts/imports/{id}" is "import"), any other after
// its address ("/admin/audit" is "admin-audit", "/" is "dashboard").
func shotName(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	parts := strings.FieldsFunc(pageKind(path), func(r rune) bool { return r == '/' })
	for i, p := range parts {
		if p == "{id}" && i > 0 {
			parts = append([]string{strings.TrimSuffix(parts[i-1], "s")}, parts[i+1:]...)
			break
		}
	}
	if len(parts) == 0 {
		return "dashboard"
	}
	return strings.Join(parts, "-")
}

func skipCrawl(path string) bool {
	return strings.HasSuffix(path, ".csv") || strings.HasSuffix(path, "/stream") ||
		strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/static/") || path == "/signout"
}

// axeViolations runs axe-core on the page and returns its serious and
// critical violations, each with the elements it found them on.
func axeViolations(t *testing.T, ctx context.Context, axe string) []string {
	t.Helper()
	var found []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	run(t, ctx, "running axe-core",
		chromedp.Evaluate(axe, nil),
		chromedp.Evaluate(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
			.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})))`,
			&found, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	out := make([]string, 0, len(found))
	for _, v := range found {
		out = append(out, fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, ", ")))
	}
	return out
}

// widerThanPhone lays the page out at phone width and names the elements
// that reach past the screen's right edge (the outermost of each nest)
// and the boxes whose content scrolls sideways inside them.
// It puts the desktop size back before it returns.
func widerThanPhone(t *testing.T, ctx context.Context) []string {
	t.Helper()
	var wide []string
	run(t, ctx, "laying the page out at phone width",
		chromedp.EmulateViewport(phoneWidth, 844, chromedp.EmulateMobile),
		chromedp.Sleep(150*time.Millisecond),
		chromedp.Evaluate(`(() => {
			const w = document.documentElement.clientWidth;
			const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
			const out = [];
			for (const el of document.querySelectorAll('body *')) {
				if (['auto', 'scroll'].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth + 1) {
					out.push(name(el) + ' scrolls inside (' + el.scrollWidth + 'px in ' + el.clientWidth + 'px)');
				}
			}
			if (document.documentElement.scrollWidth <= w + 1) return out;
			for (const el of document.querySelectorAll('body *')) {
				const r = el.getBoundingClientRect();
				if (r.width === 0 || r.right <= w + 1) continue;
				let p = el.parentElement, inner = false;
				for (; p && p !== document.body; p = p.parentElement) {
					if (p.getBoundingClientRect().right > w + 1) { inner = true; break; }
					if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) { inner = true; break; }
				}
				if (inner) continue;
				out.push(name(el) + ' ' + Math.round(r.right) + 'px');
				if (out.length >= 5) break;
			}
			return out.length ? out : ['the page (' + document.documentElement.scrollWidth + 'px)'];
		})()`, &wide),
		chromedp.EmulateViewport(1280, 800),
	)
	return wide
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
