package stack_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestCampaignEditorInABrowser drives the campaign editor through a real
// Chromium, at desktop and phone sizes, against the whole platform: an
// email campaign is composed, saved, reopened and changed; its HTML is
// shown in the editor's sandboxed frame; a test email reaches the
// simulator's SendGrid marked "[Test]"; a campaign is duplicated and the
// copy opens in the editor; a meeting is edited after its first save; a
// scheduled campaign is moved in the organization's zone; and a launched
// campaign's page charts what was sent, delivered and answered.
func TestCampaignEditorInABrowser(t *testing.T) {
	st := startConsoleStack(t, withAdminToken)
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	base := st.ConsoleURL
	for _, m := range []map[string]any{
		{"first_name": "Ana", "last_name": "Member", "phone": "+12125550101", "email": "ana@example.org", "tags": []string{"stewards"}},
		{"first_name": "Bo", "last_name": "Member", "phone": "+12125550102", "email": "bo@example.org", "tags": []string{"stewards"}},
	} {
		if code, raw := api.json("POST", "/api/contacts", m, nil); code != 201 {
			t.Fatalf("create contact = %d %s", code, raw)
		}
	}
	var settings struct {
		Settings struct {
			TimeZone string `json:"time_zone"`
		} `json:"settings"`
	}
	if code, raw := api.json("GET", "/api/settings", nil, &settings); code != 200 {
		t.Fatalf("settings = %d %s", code, raw)
	}
	zone, err := time.LoadLocation(settings.Settings.TimeZone)
	if err != nil {
		t.Fatalf("the organization's zone %q: %v", settings.Settings.TimeZone, err)
	}
	shots := os.Getenv("MUSTER_SCREENSHOTS")
	axe, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	accessible := func(ctx context.Context, what string) {
		t.Helper()
		if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
			t.Errorf("%s: accessibility violations:\n  %s", what, strings.Join(v, "\n  "))
		}
	}

	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		// A browser per size: each has its own time budget.
		ctx := browserContext(t)
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		signIn(t, ctx, base, consoleAdmin, consolePassword)
		run(t, ctx, "sizing the window for a "+size.name, chromedp.EmulateViewport(size.width, size.height, opts...),
			chromedp.WaitReady("body", chromedp.ByQuery))
		fits := func(what string) {
			t.Helper()
			var wide bool
			run(t, ctx, "measuring "+what, chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &wide))
			if wide {
				t.Errorf("%s scrolls sideways on a %s", what, size.name)
			}
		}
		editorID := func() string {
			t.Helper()
			var loc string
			run(t, ctx, "reading where the editor is", chromedp.Location(&loc))
			id, ok := strings.CutPrefix(loc[len(base):], "/campaigns/")
			id, _, _ = strings.Cut(id, "/")
			if !ok || !strings.Contains(loc, "/edit") {
				t.Fatalf("not in an editor: %s", loc)
			}
			return id
		}
		// choose sets a select and tells the page, as a person's choice
		// would.
		choose := func(sel, value string) chromedp.Action {
			return chromedp.Evaluate(`(function(){var s=document.querySelector(`+quoteJS(sel)+`);s.value=`+quoteJS(value)+
				`;s.dispatchEvent(new Event("change",{bubbles:true}));return true})()`, nil)
		}

		// An email campaign, composed, saved and reopened.
		name := "Newsletter " + size.name
		run(t, ctx, "opening a new campaign",
			chromedp.Navigate(base+"/campaigns/new"), chromedp.WaitVisible("#name", chromedp.ByQuery),
			chromedp.SendKeys("#name", name, chromedp.ByQuery))
		run(t, ctx, "choosing email", choose("#channel", "email"))
		run(t, ctx, "composing an email",
			chromedp.SendKeys("#aud_value_0", "stewards", chromedp.ByQuery),
			chromedp.WaitVisible("#subject", chromedp.ByQuery),
			chromedp.SendKeys("#subject", "News for {{first_name}}", chromedp.ByQuery),
			chromedp.SendKeys("#email_text", "Hello {{first_name}}, the contract vote is Friday.", chromedp.ByQuery),
			chromedp.SetValue("#email_html", `<h1 style="color:#0b5cad">Hello {{first_name}}</h1><p>The contract vote is <b>Friday</b>.</p>`, chromedp.ByQuery),
			chromedp.Submit("#name", chromedp.ByQuery),
			chromedp.WaitVisible("#editor", chromedp.ByQuery))
		email := editorID()
		waitText(t, ctx, "#email-subject", "News for Alex")
		run(t, ctx, "changing the subject and saving",
			chromedp.SetValue("#subject", "Vote news for {{first_name}}", chromedp.ByQuery),
			chromedp.Click("#save", chromedp.ByQuery),
			chromedp.WaitVisible("#editor-notice", chromedp.ByQuery))
		waitText(t, ctx, "#editor-notice", "Draft saved")
		var subject string
		run(t, ctx, "reopening the editor",
			chromedp.Navigate(base+"/campaigns/"+email+"/edit"), chromedp.WaitVisible("#subject", chromedp.ByQuery),
			chromedp.Value("#subject", &subject, chromedp.ByQuery))
		if subject != "Vote news for {{first_name}}" {
			t.Errorf("reopened subject = %q", subject)
		}
		waitText(t, ctx, "#email-subject", "Vote news for Alex")

		// The HTML as members get it, in the sandboxed frame.
		var frame struct {
			Sandbox string `json:"sandbox"`
			Height  int    `json:"height"`
			Doc     string `json:"doc"`
		}
		run(t, ctx, "reading the email preview", chromedp.Evaluate(`(function(){var f=document.getElementById("email-frame");
			return fetch(f.getAttribute("data-src")).then(function(r){return r.text()}).then(function(doc){
				return {sandbox: f.hasAttribute("sandbox") ? f.getAttribute("sandbox") : "missing", height: f.offsetHeight, doc: doc}})})()`, &frame,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
		if frame.Sandbox != "" || frame.Height < 100 || !strings.Contains(frame.Doc, `<h1 style="color:#0b5cad">Hello Alex</h1>`) {
			t.Errorf("email preview: sandbox %q, height %d, document %q", frame.Sandbox, frame.Height, frame.Doc)
		}
		fits("the email editor")
		accessible(ctx, "the email editor")
		if size.name == "desktop" {
			shoot(t, ctx, shots, "compose")
			run(t, ctx, "back to a desktop", chromedp.EmulateViewport(size.width, size.height))
		}

		// A test email to the organizer's own address.
		to := size.name + "-organizer@example.org"
		run(t, ctx, "sending a test email",
			chromedp.SendKeys("#test-email", to, chromedp.ByQuery),
			chromedp.Click("#send-test", chromedp.ByQuery),
			chromedp.WaitVisible("#editor-notice", chromedp.ByQuery))
		waitText(t, ctx, "#editor-notice", "Test email sent")
		testkit.Eventually(t, "the test email at the simulator", func() bool {
			for _, e := range st.Sim.Emails() {
				if e.To == to {
					if e.Subject != "[Test] Vote news for Alex" || !strings.Contains(e.HTML, "Hello Alex") {
						t.Errorf("test email = %q %q", e.Subject, e.HTML)
					}
					return true
				}
			}
			return false
		})

		// Duplicate it from its page: the copy opens in the editor.
		run(t, ctx, "duplicating",
			chromedp.Navigate(base+"/campaigns/"+email), chromedp.WaitVisible("#duplicate", chromedp.ByQuery),
			chromedp.Click("#duplicate", chromedp.ByQuery),
			chromedp.WaitVisible("#editor", chromedp.ByQuery))
		waitText(t, ctx, "#editor-notice", "This is a copy")
		copyID := editorID()
		var copyName, copySubject string
		run(t, ctx, "reading the copy", chromedp.Value("#name", &copyName, chromedp.ByQuery), chromedp.Value("#subject", &copySubject, chromedp.ByQuery))
		if copyID == email || copyName != "Copy of "+name || copySubject != "Vote news for {{first_name}}" {
			t.Errorf("copy %s: name %q, subject %q", copyID, copyName, copySubject)
		}

		// A meeting, edited after its first save.
		day := time.Now().In(zone).AddDate(0, 0, 10).Format("2006-01-02")
		run(t, ctx, "composing a meeting",
			chromedp.Navigate(base+"/campaigns/new"), chromedp.WaitVisible("#name", chromedp.ByQuery),
			chromedp.SendKeys("#name", "Stewards meeting "+size.name, chromedp.ByQuery),
			choose("#kind", "meeting"),
			chromedp.SendKeys("#aud_value_0", "stewards", chromedp.ByQuery),
			chromedp.WaitVisible("#place", chromedp.ByQuery),
			chromedp.SendKeys("#title", "December meeting", chromedp.ByQuery),
			chromedp.SetValue("#starts_at", day+"T18:30", chromedp.ByQuery),
			chromedp.SetValue("#time_zone", zone.String(), chromedp.ByQuery),
			chromedp.SendKeys("#place", "Union Hall", chromedp.ByQuery),
			chromedp.SendKeys("#body", "Local 1199: {{meeting_title}} is {{meeting_time}}. Reply YES or NO. Reply STOP to opt out.", chromedp.ByQuery),
			chromedp.Submit("#name", chromedp.ByQuery),
			chromedp.WaitVisible("#editor", chromedp.ByQuery))
		meeting := editorID()
		waitText(t, ctx, "#counter", "segment")
		run(t, ctx, "moving the meeting to another room",
			chromedp.SetValue("#place", "Room 2", chromedp.ByQuery),
			chromedp.Click("#save", chromedp.ByQuery),
			chromedp.WaitVisible("#editor-notice", chromedp.ByQuery))
		waitText(t, ctx, "#editor-notice", "Draft saved")
		var saved struct {
			Meeting struct {
				Title, Place string
			} `json:"meeting"`
		}
		api.json("GET", "/api/campaigns/"+meeting, nil, &saved)
		if saved.Meeting.Place != "Room 2" || saved.Meeting.Title != "December meeting" {
			t.Errorf("the meeting's edit was not kept: %+v", saved.Meeting)
		}

		// A scheduled campaign, moved in the organization's zone.
		var alert struct{ ID string }
		if code, raw := api.json("POST", "/api/campaigns", map[string]any{"name": "Rally " + size.name, "body": "Local 1199: rally Friday. Reply STOP to opt out.",
			"audience": map[string]string{"tag": "stewards"}}, &alert); code != 201 {
			t.Fatalf("create alert = %d %s", code, raw)
		}
		if code, raw := api.json("POST", "/api/campaigns/"+alert.ID+"/launch", map[string]any{"at": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}, nil); code != 202 {
			t.Fatalf("schedule = %d %s", code, raw)
		}
		later := time.Now().In(zone).AddDate(0, 0, 4)
		local := later.Format("2006-01-02") + "T10:15"
		run(t, ctx, "rescheduling",
			chromedp.Navigate(base+"/campaigns/"+alert.ID), chromedp.WaitVisible("#reschedule-when", chromedp.ByQuery),
			chromedp.SetValue("#reschedule-when", local, chromedp.ByQuery),
			chromedp.Click("#reschedule-save", chromedp.ByQuery),
			chromedp.WaitVisible(".notice", chromedp.ByQuery))
		waitText(t, ctx, "main", "Rescheduled")
		// The year is shown too when the new time falls in the next one.
		if at := waitText(t, ctx, "#scheduled-at", later.Format("Mon 2 Jan")); !strings.Contains(at, "10:15") {
			t.Errorf("the new time reads %q, want 10:15 in the organization's zone", at)
		}
		var moved struct {
			ScheduledAt time.Time `json:"scheduled_at"`
		}
		api.json("GET", "/api/campaigns/"+alert.ID, nil, &moved)
		if want, _ := time.ParseInLocation("2006-01-02T15:04", local, zone); !moved.ScheduledAt.Equal(want) {
			t.Errorf("scheduled at %s, want %s", moved.ScheduledAt, want)
		}
		fits("the scheduled campaign's page")
		accessible(ctx, "the scheduled campaign's page")

		// The email goes out; its page charts it.
		if code, raw := api.json("POST", "/api/campaigns/"+email+"/launch", map[string]any{}, nil); code != 202 {
			t.Fatalf("launch = %d %s", code, raw)
		}
		testkit.Eventually(t, "the email sent and charted", func() bool {
			var r struct {
				Timeline *struct {
					Buckets []struct{ Sent, Delivered int } `json:"buckets"`
				} `json:"timeline"`
			}
			api.json("GET", "/api/campaigns/"+email+"/results", nil, &r)
			sent := 0
			if r.Timeline != nil {
				for _, b := range r.Timeline.Buckets {
					sent += b.Sent
				}
			}
			return sent == 2
		})
		run(t, ctx, "opening the launched email", chromedp.Navigate(base+"/campaigns/"+email), chromedp.WaitVisible("#chart svg", chromedp.ByQuery))
		waitText(t, ctx, "#chart-summary", "2 sent")
		var dots int
		run(t, ctx, "counting the chart's lines", chromedp.Evaluate(`document.querySelectorAll("#chart svg polyline").length`, &dots))
		if dots != 3 {
			t.Errorf("the chart has %d lines, want sent, delivered and replies", dots)
		}
		fits("the launched campaign's page")
		accessible(ctx, "the launched campaign's page with its chart")
		run(t, ctx, "opening the locked editor", chromedp.Navigate(base+"/campaigns/"+email+"/edit"), chromedp.WaitVisible(".notice", chromedp.ByQuery))
		waitText(t, ctx, ".notice", "can no longer be edited")
		if size.name == "desktop" {
			run(t, ctx, "back to the chart", chromedp.Navigate(base+"/campaigns/"+email), chromedp.WaitVisible("#chart svg", chromedp.ByQuery))
			shoot(t, ctx, shots, "campaign")
		}
	}
}

// quoteJS writes s as a JavaScript string literal.
func quoteJS(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
