package stack_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/musterhq/muster/services/simulator/sim"
)

// TestConsoleAnswersOrganizersQuestions drives the questions organizers
// ask first through a real Chromium, at desktop and phone sizes, against
// the whole platform: how many are coming to a meeting (two YES and one
// NO, with their names), how many signed a petition (1 of 10), why texts
// have not gone (held by the daily cap, with when they go, in the
// organization's zone), a test send to a number typed as people type it,
// and a settings page that shows no internals. The members' auto-reply
// never carries the meeting's internal name.
func TestConsoleAnswersOrganizersQuestions(t *testing.T) {
	st := startConsoleStack(t, withAdminToken)
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	base := st.ConsoleURL
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("outbox: %+v", st.Sim.Outbox())
		}
	})

	// Four members: three stewards, one nurse.
	phones := map[string]string{"Ana": "+12125550101", "Bo": "+12125550102", "Cy": "+12125550103", "Dee": "+12125550104"}
	ids := map[string]string{}
	for name, tag := range map[string]string{"Ana": "stewards", "Bo": "stewards", "Cy": "stewards", "Dee": "nurses"} {
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/contacts", map[string]any{"first_name": name, "last_name": "Member", "phone": phones[name], "tags": []string{tag}}, &c); code != 201 {
			t.Fatalf("create %s = %d %s", name, code, raw)
		}
		ids[name] = c.ID
	}
	launch := func(body map[string]any) string {
		t.Helper()
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/campaigns", body, &c); code != 201 {
			t.Fatalf("create campaign = %d %s", code, raw)
		}
		if code, raw := api.json("POST", "/api/campaigns/"+c.ID+"/launch", map[string]any{}, nil); code != 202 && code != 200 {
			t.Fatalf("launch = %d %s", code, raw)
		}
		return c.ID
	}
	texted := func(name, prefix string) bool {
		for _, m := range outboxTo(st.Sim, phones[name], "outbound-api") {
			if strings.HasPrefix(m.Body, prefix) {
				return true
			}
		}
		return false
	}
	reply := func(name, body string) {
		t.Helper()
		if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones[name], To: "+15550001111", Body: body}); err != nil {
			t.Fatal(err)
		}
	}

	// A meeting named for organizers only; two say YES, one NO.
	meeting := launch(map[string]any{
		"name": "Stewards meeting Tue", "kind": "meeting", "channel": "sms",
		"body":     "Local 1199: {{meeting_title}} is {{meeting_time}} at {{meeting_place}}. Reply YES or NO. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "stewards"},
		"meeting":  map[string]any{"starts_at": time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339), "place": "Union Hall"},
	})
	testkit.Eventually(t, "the invitations", func() bool {
		return texted("Ana", "Local 1199: the meeting is") && texted("Bo", "Local 1199:") && texted("Cy", "Local 1199:")
	})
	reply("Ana", "YES")
	reply("Bo", "yes!")
	reply("Cy", "No")
	var res struct {
		RSVPs struct{ Yes, No int } `json:"rsvps"`
	}
	testkit.Eventually(t, "two yes and one no", func() bool {
		api.json("GET", "/api/campaigns/"+meeting+"/results", nil, &res)
		return res.RSVPs.Yes == 2 && res.RSVPs.No == 1
	})
	testkit.Eventually(t, "Ana's auto-reply", func() bool { return texted("Ana", "Thanks, Ana! You're on the list for the meeting,") })
	for _, m := range st.Sim.Outbox() {
		if strings.Contains(m.Body, "Stewards meeting Tue") {
			t.Errorf("the internal name reached %s: %q", m.To, m.Body)
		}
	}

	// A petition to the nurse, who signs.
	petition := launch(map[string]any{
		"name": "Staffing petition", "kind": "petition", "channel": "sms",
		"body":     "Local 1199: sign for safe staffing, reply {{sign_keyword}}. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "nurses"},
		"petition": map[string]any{"goal": 10},
	})
	testkit.Eventually(t, "the petition text", func() bool { return texted("Dee", "Local 1199: sign") })
	reply("Dee", "SIGN")
	var signed struct {
		Signatures *int `json:"signatures"`
	}
	testkit.Eventually(t, "Dee's signature", func() bool {
		api.json("GET", "/api/campaigns/"+petition+"/results", nil, &signed)
		return signed.Signatures != nil && *signed.Signatures == 1
	})

	// One text a day: an alert to the stewards, who had theirs today, is
	// held until tomorrow.
	var settings struct {
		Settings map[string]any `json:"settings"`
	}
	if code, raw := api.json("GET", "/api/settings", nil, &settings); code != 200 {
		t.Fatalf("settings = %d %s", code, raw)
	}
	settings.Settings["cap_per_day"] = 1
	if code, raw := api.json("PUT", "/api/settings", settings.Settings, nil); code != 200 {
		t.Fatalf("put settings = %d %s", code, raw)
	}
	time.Sleep(2 * time.Second) // every replica uses new settings within seconds
	alert := launch(map[string]any{
		"name": "Rally reminder", "kind": "alert", "channel": "sms",
		"body":     "Local 1199: rally Friday 5pm at City Hall. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "stewards"},
	})
	var until time.Time
	testkit.Eventually(t, "the alert held by the cap", func() bool {
		var out struct {
			Messages []struct {
				Status        string     `json:"status"`
				DeferReason   string     `json:"defer_reason"`
				DeferredUntil *time.Time `json:"deferred_until"`
			} `json:"messages"`
		}
		call(t, "delivery", "GET", st.DeliveryURL+"/messages?campaign_id="+alert, nil, &out)
		held := 0
		for _, m := range out.Messages {
			if m.Status == "queued" && m.DeferReason != "" && m.DeferredUntil != nil {
				held++
				if until.IsZero() || m.DeferredUntil.Before(until) {
					until = *m.DeferredUntil
				}
			}
		}
		return held == 3
	})
	ny, _ := time.LoadLocation("America/New_York")

	ctx := browserContext(t)
	signIn(t, ctx, base, consoleAdmin, consolePassword)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
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

		// How many are coming?
		run(t, ctx, "opening the meeting", chromedp.Navigate(base+"/campaigns/"+meeting), chromedp.WaitVisible("#rsvp-counts", chromedp.ByQuery))
		waitText(t, ctx, "#rsvp-yes", "2")
		waitText(t, ctx, "#rsvp-no", "1")
		yes := waitText(t, ctx, "#rsvp-yes-list", "Ana Member")
		if !strings.Contains(yes, "Bo Member") || strings.Contains(yes, "Cy") {
			t.Errorf("coming = %q, want Ana and Bo", yes)
		}
		waitText(t, ctx, "#rsvp-no-list", "Cy Member")
		var href, csv string
		run(t, ctx, "reading the links",
			chromedp.AttributeValue(`#rsvp-yes-list a`, "href", &href, nil, chromedp.ByQuery),
			chromedp.AttributeValue(`#rsvps-csv`, "href", &csv, nil, chromedp.ByQuery))
		if !strings.HasPrefix(href, "/contacts/") || csv != "/api/campaigns/"+meeting+"/rsvps.csv" {
			t.Errorf("member link %q, export %q", href, csv)
		}
		fits("the meeting's page")

		// How many signed?
		run(t, ctx, "opening the petition", chromedp.Navigate(base+"/campaigns/"+petition), chromedp.WaitVisible("#signed-count", chromedp.ByQuery))
		waitText(t, ctx, "#signed-count", "1 of 10 signed")
		waitText(t, ctx, "#signed-list", "Dee Member")
		fits("the petition's page")

		// Why have they not gone?
		run(t, ctx, "opening the held alert", chromedp.Navigate(base+"/campaigns/"+alert), chromedp.WaitVisible("#held", chromedp.ByQuery))
		held := waitText(t, ctx, "#held", "3 held by daily or weekly cap")
		if day, clock := until.In(ny).Format("Mon 2 Jan"), until.In(ny).Format("15:04 MST"); !strings.Contains(held, day) || !strings.Contains(held, clock) {
			t.Errorf("held = %q, want when it goes (%s %s) in the organization's zone", held, day, clock)
		}
		waitText(t, ctx, "#waiting", "3")
		fits("the held alert's page")
	}
	if shots := os.Getenv("MUSTER_SCREENSHOTS"); shots != "" {
		for name, id := range map[string]string{"meeting": meeting, "petition": petition, "held": alert} {
			run(t, ctx, "opening "+name, chromedp.Navigate(base+"/campaigns/"+id), chromedp.WaitVisible("#results", chromedp.ByQuery))
			shoot(t, ctx, shots, "campaign-"+name)
		}
	}
	run(t, ctx, "back to a desktop", chromedp.EmulateViewport(1280, 800))

	// A test send to a number typed the way people type it; a bad one is
	// explained on the form.
	var draft struct{ ID string }
	if code, raw := api.json("POST", "/api/campaigns", map[string]any{
		"name": "Draft", "kind": "alert", "channel": "sms", "body": "Local 1199: testing. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "stewards"},
	}, &draft); code != 201 {
		t.Fatalf("create draft = %d %s", code, raw)
	}
	run(t, ctx, "sending a test to a bad number",
		chromedp.Navigate(base+"/campaigns/"+draft.ID+"/edit"),
		chromedp.WaitVisible("#test-phone", chromedp.ByQuery),
		chromedp.SendKeys("#test-phone", "12", chromedp.ByQuery),
		chromedp.Submit("#test-phone", chromedp.ByQuery),
		chromedp.WaitVisible("#test-error", chromedp.ByQuery))
	waitText(t, ctx, "#test-error", "is not a phone number we can text")
	run(t, ctx, "sending a test to (212) 555-1990",
		chromedp.SetValue("#test-phone", "(212) 555-1990", chromedp.ByQuery),
		chromedp.Submit("#test-phone", chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery))
	waitText(t, ctx, ".notice", "Test message sent")
	testkit.Eventually(t, "the test at (212) 555-1990", func() bool {
		return len(outboxTo(st.Sim, "+12125551990", "outbound-api")) == 1
	})

	// Settings: what an admin decides, never connection strings.
	var settingsHTML string
	run(t, ctx, "opening settings", chromedp.Navigate(base+"/settings"), chromedp.WaitVisible("#org_name", chromedp.ByQuery),
		chromedp.OuterHTML("html", &settingsHTML, chromedp.ByQuery))
	for _, bad := range []string{"postgres://", "http://127.0.0.1", "redis://"} {
		if strings.Contains(settingsHTML, bad) {
			t.Errorf("settings show %q", bad)
		}
	}
}
