package stack_test

import (
	"context"
	"fmt"
	"github.com/musterhq/muster/shared/testkit"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/musterhq/muster/services/simulator/sim"
)

// TestTheInboxIsBuiltForVolume drives the inbox through a real Chromium
// at desktop and phone sizes against the whole platform. An admin writes
// a saved reply on the admin page. Then, at each size, four members
// text back (three to a rally alert, one to a staffing alert): the inbox
// shows one row per member with their worksite and the campaign they
// answer, without scrolling sideways; the campaign filter keeps the
// rally's three; the organizer opens Ana's conversation, picks the saved
// reply, edits it and sends it (Ana gets it, and her conversation leaves
// Waiting), then selects Bo and Cy and marks both handled at once. The
// tag filter and "mine" show what they should. At the phone size the
// same members text again: a new text brings a handled conversation back
// to Waiting.
func TestTheInboxIsBuiltForVolume(t *testing.T) {
	st := startConsoleStack(t, withAdminToken)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("outbox: %+v", st.Sim.Outbox())
		}
	})
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	base := st.ConsoleURL
	shots := os.Getenv("MUSTER_SCREENSHOTS")

	// Four members: three stewards at two clinics, one nurse.
	phones := map[string]string{"Ana": "+12125550101", "Bo": "+12125550102", "Cy": "+12125550103", "Dee": "+12125550104"}
	worksites := map[string]string{"Ana": "North Clinic", "Bo": "North Clinic", "Cy": "South Clinic", "Dee": "Mercy Hospital"}
	ids := map[string]string{}
	for name, tag := range map[string]string{"Ana": "stewards", "Bo": "stewards", "Cy": "stewards", "Dee": "nurses"} {
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/contacts", map[string]any{"first_name": name, "last_name": "Member", "phone": phones[name],
			"tags": []string{tag}, "attributes": map[string]string{"worksite": worksites[name]}}, &c); code != 201 {
			t.Fatalf("create %s = %d %s", name, code, raw)
		}
		ids[name] = c.ID
	}
	texted := func(name, prefix string) bool {
		for _, m := range outboxTo(st.Sim, phones[name], "outbound-api") {
			if strings.HasPrefix(m.Body, prefix) {
				return true
			}
		}
		return false
	}
	launch := func(name, tag, body string) string {
		t.Helper()
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/campaigns", map[string]any{"name": name, "kind": "alert", "channel": "sms", "body": body,
			"audience": map[string]string{"tag": tag}}, &c); code != 201 {
			t.Fatalf("create campaign = %d %s", code, raw)
		}
		if code, raw := api.json("POST", "/api/campaigns/"+c.ID+"/launch", map[string]any{}, nil); code != 202 && code != 200 {
			t.Fatalf("launch = %d %s", code, raw)
		}
		return c.ID
	}
	rally := launch("Rally Friday", "stewards", "Local 1199: rally Friday 5pm at City Hall. Reply STOP to opt out.")
	launch("Staffing check", "nurses", "Local 1199: how is staffing on your floor this week? Reply STOP to opt out.")
	testkit.Eventually(t, "the alerts", func() bool {
		return texted("Ana", "Local 1199: rally") && texted("Bo", "Local 1199: rally") && texted("Cy", "Local 1199: rally") && texted("Dee", "Local 1199: how")
	})

	ctx := browserContext(t)
	signIn(t, ctx, base, consoleAdmin, consolePassword)

	// The admin writes a saved reply once.
	run(t, ctx, "writing a saved reply",
		chromedp.Navigate(base+"/admin/saved-replies"),
		chromedp.WaitVisible("#saved-title", chromedp.ByQuery),
		chromedp.SendKeys("#saved-title", "Parking", chromedp.ByQuery),
		chromedp.SendKeys("#saved-body", "Park in lot B behind City Hall.", chromedp.ByQuery),
		chromedp.Click("#save-new", chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery),
	)
	waitText(t, ctx, "#saved-replies", "Parking")
	axe, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	accessible := func(what string) {
		t.Helper()
		if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
			t.Errorf("%s: accessibility violations:\n  %s", what, strings.Join(v, "\n  "))
		}
	}
	accessible("the saved replies page")

	// waitURL waits until the address holds want: a click that loads a
	// page has loaded it.
	waitAddress := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		var loc string
		for {
			_ = chromedp.Run(ctx, chromedp.Location(&loc))
			if ok(loc) {
				_ = chromedp.Run(ctx, chromedp.WaitReady("body", chromedp.ByQuery))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the address never %s; it is %s", what, loc)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitURL := func(want string) {
		t.Helper()
		waitAddress("held "+want, func(loc string) bool { return strings.Contains(loc, want) })
	}
	row := func(name string) string { return `#conversations li[data-conversation="c:` + ids[name] + `"]` }
	count := func() int {
		var n int
		run(t, ctx, "counting conversations", chromedp.Evaluate(`document.querySelectorAll("#conversations li").length`, &n))
		return n
	}
	for round, size := range []struct {
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

		// Four members text back.
		for _, name := range []string{"Ana", "Bo", "Cy", "Dee"} {
			body := fmt.Sprintf("%s here (%s): is there parking near the hall, and can I bring a friend who works nights at https://example.org/a/very/long/link/that/must/wrap/on/a/phone?", name, size.name)
			if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones[name], To: "+15550001111", Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		testkit.Eventually(t, "four conversations waiting on a "+size.name, func() bool {
			_ = chromedp.Run(ctx, chromedp.Navigate(base+"/inbox"), chromedp.WaitVisible("#inbox-filters", chromedp.ByQuery))
			var text string
			_ = chromedp.Run(ctx, chromedp.Text("#conversations", &text, chromedp.ByQuery, chromedp.AtLeast(0)))
			return count() == 4 && strings.Count(text, "("+size.name+")") == 4
		})
		ana := waitText(t, ctx, row("Ana"), "Ana Member")
		if !strings.Contains(ana, "North Clinic") || !strings.Contains(ana, "answers Rally Friday") {
			t.Errorf("Ana's row = %q, want her worksite and the campaign she answers", ana)
		}
		var href string
		run(t, ctx, "reading the member's link", chromedp.AttributeValue(row("Ana")+` a[href^="/contacts/"]`, "href", &href, nil, chromedp.ByQuery))
		if href != "/contacts/"+ids["Ana"] {
			t.Errorf("Ana's row links to %q", href)
		}
		fits("the inbox")
		if round == 0 {
			accessible("the inbox")
		}

		// By campaign: the rally's three.
		run(t, ctx, "filtering by campaign",
			chromedp.SetValue("#filter-campaign", rally, chromedp.ByQuery),
			chromedp.Click("#apply-filters", chromedp.ByQuery),
		)
		waitURL("campaign=" + rally)
		run(t, ctx, "waiting for the rally's list", chromedp.WaitVisible(row("Ana"), chromedp.ByQuery))
		var loc string
		if n := count(); n != 3 {
			t.Errorf("the rally's conversations = %d, want 3", n)
		}

		// Ana's conversation, answered with the saved reply, edited.
		run(t, ctx, "opening Ana's conversation",
			chromedp.Click(row("Ana")+" a.conv-open", chromedp.ByQuery),
		)
		waitURL("c=c%3A" + ids["Ana"])
		run(t, ctx, "waiting for the reply box", chromedp.WaitVisible("#reply-body", chromedp.ByQuery))
		waitText(t, ctx, "#thread", "Ana here ("+size.name+")")
		if round > 0 {
			waitText(t, ctx, "#thread-turns", "Park in lot B") // the first round's answer
		}
		fits("Ana's conversation")
		if round == 0 {
			accessible("Ana's conversation")
		}
		pick := `(s => { s.selectedIndex = [...s.options].findIndex(o => o.text === "Parking"); })(document.getElementById("saved-reply"))`
		if round == 0 {
			// Without JavaScript's help: Use reloads with the reply filled.
			run(t, ctx, "picking the saved reply", chromedp.Evaluate(pick, nil), chromedp.Click("#use-saved", chromedp.ByQuery))
			waitURL("saved=")
			run(t, ctx, "waiting for the reply box", chromedp.WaitVisible("#reply-body", chromedp.ByQuery))
		} else {
			// Choosing it fills the box at once, by keyboard as by mouse.
			run(t, ctx, "picking the saved reply",
				chromedp.Focus("#saved-reply", chromedp.ByQuery),
				chromedp.Evaluate(pick+`; document.getElementById("saved-reply").dispatchEvent(new Event("change"))`, nil))
		}
		var box string
		run(t, ctx, "reading the reply box", chromedp.Value("#reply-body", &box, chromedp.ByQuery))
		if box != "Park in lot B behind City Hall." {
			t.Fatalf("the reply box holds %q, want the saved reply", box)
		}
		answer := "Park in lot B behind City Hall. Bring your friend! (" + size.name + ")"
		run(t, ctx, "editing and sending",
			chromedp.Evaluate(`(b => { b.focus(); b.setSelectionRange(b.value.length, b.value.length); })(document.getElementById("reply-body"))`, nil),
			chromedp.SendKeys("#reply-body", " Bring your friend! ("+size.name+")", chromedp.ByQuery),
			chromedp.Click("#send-reply", chromedp.ByQuery),
		)
		waitURL("notice=replied")
		run(t, ctx, "waiting for the notice", chromedp.WaitVisible(".notice", chromedp.ByQuery))
		testkit.Eventually(t, "the answer at Ana's phone", func() bool {
			for _, m := range outboxTo(st.Sim, phones["Ana"], "outbound-api") {
				if m.Body == answer {
					return true
				}
			}
			return false
		})
		// Answered: Ana has left Waiting; the filter stayed.
		run(t, ctx, "reading the address", chromedp.Location(&loc))
		if !strings.Contains(loc, "campaign="+rally) {
			t.Errorf("after answering the filter was lost: %s", loc)
		}
		var anaLeft bool
		run(t, ctx, "looking for Ana", chromedp.Evaluate(`document.querySelector('`+row("Ana")+`') === null`, &anaLeft))
		if n := count(); !anaLeft || n != 2 {
			t.Errorf("after answering Ana: %d waiting (Ana gone: %v), want Bo and Cy", n, anaLeft)
		}

		// Bo and Cy handled at once.
		run(t, ctx, "selecting Bo and Cy",
			chromedp.Click(row("Bo")+` input[type="checkbox"]`, chromedp.ByQuery),
			chromedp.Click(row("Cy")+` input[type="checkbox"]`, chromedp.ByQuery),
			chromedp.Click("#bulk-handled", chromedp.ByQuery),
		)
		waitURL("handled_n=")
		waitText(t, ctx, ".notice", "2 conversations marked handled")
		waitText(t, ctx, "#no-conversations", "Nothing waiting with these filters")

		// Without the filter only Dee waits; by tag, the nurses.
		run(t, ctx, "clearing the filters", chromedp.Click("#clear-filters", chromedp.ByQuery))
		waitAddress("lost its filters", func(loc string) bool { return strings.HasSuffix(loc, "/inbox") })
		run(t, ctx, "waiting for Dee", chromedp.WaitVisible(row("Dee"), chromedp.ByQuery))
		if n := count(); n != 1 {
			t.Errorf("waiting after the bulk = %d, want Dee only", n)
		}
		run(t, ctx, "filtering by tag",
			chromedp.Navigate(base+"/inbox?status=all&tag=nurses"),
			chromedp.WaitVisible(row("Dee"), chromedp.ByQuery),
		)
		if n := count(); n != 1 {
			t.Errorf("conversations with nurses = %d, want Dee's", n)
		}
		// Mine: the three this organizer answered or handled.
		run(t, ctx, "showing mine",
			chromedp.Navigate(base+"/inbox?status=all"),
			chromedp.Click("#filter-mine", chromedp.ByQuery),
		)
		waitURL("mine=1")
		run(t, ctx, "waiting for Bo", chromedp.WaitVisible(row("Bo"), chromedp.ByQuery))
		var dee bool
		run(t, ctx, "looking for Dee", chromedp.Evaluate(`document.querySelector('`+row("Dee")+`') !== null`, &dee))
		if n := count(); n != 3 || dee {
			t.Errorf("mine = %d (Dee among them: %v), want Ana, Bo and Cy", n, dee)
		}
		fits("the filtered inbox")
	}
	run(t, ctx, "back to a desktop", chromedp.EmulateViewport(1280, 800))

	// The member's page shows the conversation, wrapped on a phone.
	run(t, ctx, "opening Ana's page", chromedp.Navigate(base+"/contacts/"+ids["Ana"]), chromedp.WaitVisible(".thread", chromedp.ByQuery))
	waitText(t, ctx, ".thread", "Bring your friend! (phone)")
	run(t, ctx, "sizing the window for a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	var wide bool
	run(t, ctx, "measuring Ana's page", chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &wide))
	if wide {
		t.Error("the member's page scrolls sideways on a phone")
	}
	run(t, ctx, "back to a desktop", chromedp.EmulateViewport(1280, 800))
	run(t, ctx, "answering from Ana's page", chromedp.Click("#member-inbox", chromedp.ByQuery))
	waitURL("c=c:" + ids["Ana"])
	waitText(t, ctx, "#thread-turns", "Ana here (phone)")

	if shots != "" {
		run(t, ctx, "opening the inbox for its picture",
			chromedp.Navigate(base+"/inbox?status=all&c="+"c%3A"+ids["Dee"]),
			chromedp.WaitVisible("#thread", chromedp.ByQuery))
		shoot(t, ctx, shots, "inbox")
	}
}
