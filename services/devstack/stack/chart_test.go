package stack_test

import (
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestChartTheWorkplace drives assessments through a real Chromium at
// desktop and phone sizes: eight members across two worksites and two
// shifts; one rated from her page, three in bulk from the contacts list;
// the chart counts each level and the unassessed per worksite and shift,
// with who they are; an audience "support at most 2" counts the leaders
// and supporters in the campaign editor's builder; on a phone, one more
// rating moves the chart, and nothing scrolls sideways.
func TestChartTheWorkplace(t *testing.T) {
	st := startConsoleStack(t)
	base := st.ConsoleURL
	shots := os.Getenv("MUSTER_SCREENSHOTS")

	ids := map[string]string{}
	for i, m := range []struct{ name, site, shift string }{
		{"Ana", "North Clinic", "Day"}, {"Bo", "North Clinic", "Day"},
		{"Cy", "North Clinic", "Night"}, {"Dee", "North Clinic", "Night"},
		{"Eve", "South Hospital", "Day"}, {"Fay", "South Hospital", "Day"},
		{"Gus", "South Hospital", "Night"}, {"Hal", "South Hospital", "Night"},
	} {
		var c struct{ ID string }
		body := map[string]any{"first_name": m.name, "last_name": "Member", "phone": "+121255502" + string(rune('0'+i)) + "1",
			"attributes": map[string]string{"worksite": m.site, "shift": m.shift}}
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", body, &c); code != 201 {
			t.Fatalf("create %s = %d", m.name, code)
		}
		ids[m.name] = c.ID
	}

	ctx := browserContext(t)
	signIn(t, ctx, base, consoleAdmin, consolePassword)
	choose := func(sel, value string) chromedp.Action {
		return chromedp.Evaluate(`(s => { s.value = "`+value+`"; s.dispatchEvent(new Event("change", {bubbles: true})); })(document.querySelector("`+sel+`"))`, nil)
	}
	rateOne := func(name, level, says string) {
		t.Helper()
		run(t, ctx, "rating "+name,
			chromedp.Navigate(base+"/contacts/"+ids[name]),
			chromedp.WaitVisible("#rate-one", chromedp.ByQuery),
			choose("#rating", level),
			chromedp.Submit("#rating", chromedp.ByQuery),
			chromedp.WaitVisible("#contact-notice", chromedp.ByQuery))
		waitText(t, ctx, "#contact-notice", "Rated "+says+".")
		waitText(t, ctx, "#support-now", says)
		waitText(t, ctx, "#rating-history", "Rating history (1)")
		waitText(t, ctx, "#member-changes", "rated "+says)
	}
	// cell reads the chart's summary: members of a group at a level (0 is
	// the unassessed).
	cell := func(group, level, want string) {
		t.Helper()
		waitText(t, ctx, `#chart-summary tr[data-group="`+group+`"] td[data-level="`+level+`"]`, want)
	}
	openChart := func() {
		t.Helper()
		run(t, ctx, "opening the chart", chromedp.Navigate(base+"/"), chromedp.WaitVisible(`nav a[href="/chart"]`, chromedp.ByQuery),
			chromedp.Click(`nav a[href="/chart"]`, chromedp.ByQuery), chromedp.WaitVisible("#chart-summary", chromedp.ByQuery))
	}

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

		if size.name == "desktop" {
			// Ana is a leader, rated from her page.
			rateOne("Ana", "1", "1 · Leader")
			fits("a member's page")

			// Bo, Cy and Eve are supporters, ticked on the list.
			run(t, ctx, "opening contacts", chromedp.Navigate(base+"/contacts"), chromedp.WaitVisible("#rate-many", chromedp.ByQuery))
			fits("the contacts list")
			run(t, ctx, "rating three at once",
				chromedp.Click("#pick-"+ids["Bo"], chromedp.ByQuery),
				chromedp.Click("#pick-"+ids["Cy"], chromedp.ByQuery),
				chromedp.Click("#pick-"+ids["Eve"], chromedp.ByQuery),
				choose("#rate-many-level", "2"),
				chromedp.Submit("#rate-many-level", chromedp.ByQuery),
				chromedp.WaitVisible(".notice", chromedp.ByQuery))
			waitText(t, ctx, ".notice", "Rated 3 members 2 · Supporter.")

			// The list filters on the latest rating.
			run(t, ctx, "filtering by support", chromedp.Navigate(base+"/contacts?support=max2"), chromedp.WaitVisible("#contacts", chromedp.ByQuery))
			var rows int
			run(t, ctx, "counting the list", chromedp.Evaluate(`document.querySelectorAll("#contacts tbody tr").length`, &rows))
			if rows != 4 {
				t.Errorf("support at most 2 lists %d members, want 4", rows)
			}

			openChart()
			cell("North Clinic · Day", "1", "1")
			cell("North Clinic · Day", "2", "1")
			cell("North Clinic · Day", "0", "0")
			cell("North Clinic · Night", "2", "1")
			cell("North Clinic · Night", "0", "1")
			cell("South Hospital · Day", "2", "1")
			cell("South Hospital · Day", "0", "1")
			cell("South Hospital · Night", "0", "2")
			cell("South Hospital · Night", "2", "0")
			// Who is at each level, in words.
			waitText(t, ctx, `.chart-group:nth-of-type(1) tr[data-level="1"]`, "Ana Member")
			waitText(t, ctx, `.chart-group:nth-of-type(1) tr[data-level="1"] th`, "1 · Leader")
			waitText(t, ctx, `#chart-group-3`, "South Hospital · Night")
			var who string
			run(t, ctx, "reading the unassessed", chromedp.Evaluate(
				`Array.from(document.querySelectorAll(".chart-group")).map(g => g.querySelector("h2").textContent + ": " + Array.from(g.querySelectorAll('tr[data-level="0"] li')).map(l => l.textContent).join(", ")).join(" | ")`, &who))
			for _, want := range []string{"North Clinic · Night: Dee Member", "South Hospital · Day: Fay Member", "South Hospital · Night: Gus Member, Hal Member"} {
				if !strings.Contains(who, want) {
					t.Errorf("the unassessed read %q, want %q", who, want)
				}
			}
			fits("the chart")

			// An audience of leaders and supporters, in the editor.
			run(t, ctx, "starting a campaign",
				chromedp.Navigate(base+"/campaigns/new"),
				chromedp.WaitVisible("#aud_value_0", chromedp.ByQuery),
				choose("#aud_kind_0", "support_max"),
				chromedp.SendKeys("#aud_value_0", "2", chromedp.ByQuery))
			waitText(t, ctx, "#audience-count", "4 members match")
			run(t, ctx, "choosing the unassessed", choose("#aud_kind_0", "unassessed"),
				chromedp.Evaluate(`document.getElementById("aud_value_0").dispatchEvent(new Event("input", {bubbles: true}))`, nil))
			waitText(t, ctx, "#audience-count", "4 members match")
			continue
		}

		// On a phone: Dee turns out opposed, and the chart moves.
		rateOne("Dee", "5", "5 · Opposed")
		fits("a member's page")
		run(t, ctx, "opening contacts", chromedp.Navigate(base+"/contacts"), chromedp.WaitVisible("#rate-many", chromedp.ByQuery))
		fits("the contacts list")
		openChart()
		cell("North Clinic · Night", "5", "1")
		cell("North Clinic · Night", "0", "0")
		cell("North Clinic · Day", "1", "1")
		fits("the chart")
		run(t, ctx, "starting a campaign",
			chromedp.Navigate(base+"/campaigns/new"),
			chromedp.WaitVisible("#aud_value_0", chromedp.ByQuery),
			choose("#aud_kind_0", "support_max"),
			chromedp.SendKeys("#aud_value_0", "2", chromedp.ByQuery))
		waitText(t, ctx, "#audience-count", "4 members match")
		fits("the campaign editor")
	}
	run(t, ctx, "back to a desktop", chromedp.EmulateViewport(1280, 800))
	if shots != "" {
		openChart()
		shoot(t, ctx, shots, "chart")
	}
}
