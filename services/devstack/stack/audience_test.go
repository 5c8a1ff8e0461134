package stack_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleAudiencesAndOneMember drives, in a real Chromium at desktop
// and phone sizes against the whole platform, what an organizer does to
// pick who gets a campaign and to keep one member's details right: an
// audience of several conditions (tagged nights AND worksite Mercy AND
// NOT tagged steward) with its live count and tag suggestions as they
// type, a member's worksite edited on their page, a tag added to one
// member (and removed on the phone), each seen in the count. The
// contacts list, a member's page and the editor never scroll sideways.
func TestConsoleAudiencesAndOneMember(t *testing.T) {
	st := startConsoleStack(t)
	base := st.ConsoleURL
	shots := os.Getenv("MUSTER_SCREENSHOTS")

	// Six members. Only Ana is on nights at Mercy and no steward; Eve is
	// at the wrong worksite until edited, Fay lacks the tag until given it.
	ids := map[string]string{}
	for _, m := range []struct {
		name     string
		tags     []string
		worksite string
	}{
		{"Ana", []string{"nights"}, "Mercy"},
		{"Bo", []string{"nights", "steward"}, "Mercy"},
		{"Cy", []string{"nights"}, "General"},
		{"Dee", []string{"days"}, "Mercy"},
		{"Eve", []string{"nights"}, "General"},
		{"Fay", nil, "Mercy"},
	} {
		var c struct{ ID string }
		body := map[string]any{"first_name": m.name, "last_name": "Member", "phone": "+1212555" + map[string]string{
			"Ana": "0101", "Bo": "0102", "Cy": "0103", "Dee": "0104", "Eve": "0105", "Fay": "0106"}[m.name],
			"tags": m.tags, "attributes": map[string]string{"worksite": m.worksite, "shift": "night"}}
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", body, &c); code != 201 {
			t.Fatalf("create %s = %d", m.name, code)
		}
		ids[m.name] = c.ID
	}

	ctx := browserContext(t)
	signIn(t, ctx, base, consoleAdmin, consolePassword)

	options := func(list string) string {
		var got string
		run(t, ctx, "reading the suggestions", chromedp.Evaluate(
			`Array.from(document.querySelectorAll("#`+list+` option")).map(o => o.value).join(",")`, &got))
		return got
	}
	suggests := func(list, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for got := options(list); got != want; got = options(list) {
			if time.Now().After(deadline) {
				t.Fatalf("suggestions in #%s = %q, want %q", list, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	choose := func(sel, value string) chromedp.Action {
		return chromedp.Evaluate(`(s => { s.value = "`+value+`"; s.dispatchEvent(new Event("change", {bubbles: true})); })(document.querySelector("`+sel+`"))`, nil)
	}
	// build makes nights AND worksite Mercy AND NOT steward in the
	// editor, typing the first tag's start to see it suggested.
	build := func() {
		t.Helper()
		run(t, ctx, "starting a campaign",
			chromedp.Navigate(base+"/campaigns/new"),
			chromedp.WaitVisible("#aud_value_0", chromedp.ByQuery),
			chromedp.SendKeys("#name", "Nights at Mercy", chromedp.ByQuery),
			chromedp.SendKeys("#aud_value_0", "ni", chromedp.ByQuery))
		suggests("aud-tags", "nights")
		run(t, ctx, "building the audience",
			chromedp.SendKeys("#aud_value_0", "ghts", chromedp.ByQuery),
			chromedp.Click("[data-aud-add]", chromedp.ByQuery),
			chromedp.WaitVisible("#aud_kind_1", chromedp.ByQuery),
			choose("#aud_kind_1", "worksite"),
			chromedp.SendKeys("#aud_value_1", "Mercy", chromedp.ByQuery),
			chromedp.Click("[data-aud-add]", chromedp.ByQuery),
			chromedp.WaitVisible("#aud_kind_2", chromedp.ByQuery),
			chromedp.SendKeys("#aud_value_2", "steward", chromedp.ByQuery),
			chromedp.Click("#aud_not_2", chromedp.ByQuery))
	}
	count := func(want string) { t.Helper(); waitText(t, ctx, "#audience-count", want) }

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

		// The list: name first, no sideways scrolling.
		var first string
		run(t, ctx, "opening contacts", chromedp.Navigate(base+"/contacts"), chromedp.WaitVisible("#contacts", chromedp.ByQuery),
			chromedp.Text("#contacts tbody tr td", &first, chromedp.ByQuery))
		if !strings.HasSuffix(strings.TrimSpace(first), "Member") {
			t.Errorf("the first column reads %q, want the name", first)
		}
		fits("the contacts list")

		if size.name == "desktop" {
			build()
			count("1 member matches")
			fits("the campaign editor")

			// Eve moves to Mercy.
			run(t, ctx, "editing Eve",
				chromedp.Navigate(base+"/contacts/"+ids["Eve"]),
				chromedp.WaitVisible("#edit-contact", chromedp.ByQuery),
				chromedp.Click("#edit-contact", chromedp.ByQuery),
				chromedp.WaitVisible("#worksite", chromedp.ByQuery),
				chromedp.Evaluate(`document.getElementById("worksite").value = ""`, nil),
				chromedp.SendKeys("#worksite", "Mercy", chromedp.ByQuery),
				chromedp.Submit("#worksite", chromedp.ByQuery),
				chromedp.WaitVisible("#contact-notice", chromedp.ByQuery))
			waitText(t, ctx, `#member-facts [data-attr="worksite"]`, "Mercy")
			waitText(t, ctx, "#member-changes", "changed worksite")

			// Fay gets the tag, suggested as it is typed.
			run(t, ctx, "tagging Fay",
				chromedp.Navigate(base+"/contacts/"+ids["Fay"]),
				chromedp.WaitVisible("#add-tag", chromedp.ByQuery),
				chromedp.SendKeys("#add-tag", "nig", chromedp.ByQuery))
			suggests("contact-tags", "nights")
			run(t, ctx, "adding the tag", chromedp.SendKeys("#add-tag", "hts", chromedp.ByQuery), chromedp.Submit("#add-tag", chromedp.ByQuery),
				chromedp.WaitVisible("#contact-notice", chromedp.ByQuery))
			waitText(t, ctx, "#contact-notice", "Tag nights added.")
			waitText(t, ctx, "#member-tags .tag-list", "nights")

			build()
			count("3 members match: 3 can be texted")
			continue
		}

		// On the phone: Fay's page fits, and the tag comes off again.
		run(t, ctx, "opening Fay", chromedp.Navigate(base+"/contacts/"+ids["Fay"]), chromedp.WaitVisible("#member-tags", chromedp.ByQuery))
		fits("a member's page")
		run(t, ctx, "removing the tag", chromedp.Click(`button[aria-label="Remove tag nights"]`, chromedp.ByQuery),
			chromedp.WaitVisible("#contact-notice", chromedp.ByQuery))
		waitText(t, ctx, "#contact-notice", "Tag nights removed.")
		run(t, ctx, "opening Eve's details", chromedp.Navigate(base+"/contacts/"+ids["Eve"]+"/edit"), chromedp.WaitVisible("#worksite", chromedp.ByQuery))
		fits("the edit page")
		build()
		count("2 members match")
		fits("the campaign editor")

		// Saved, the campaign keeps the whole expression, and the review
		// says it in words.
		run(t, ctx, "saving the draft",
			chromedp.SendKeys("#body", "Local 1199: nights meeting at Mercy Tuesday. Reply STOP to opt out.", chromedp.ByQuery),
			chromedp.Submit("#body", chromedp.ByQuery),
			chromedp.WaitVisible("#editor", chromedp.ByQuery))
		// The editor reads the stored expression back into the builder.
		var firstCond string
		run(t, ctx, "reading the editor's audience", chromedp.Value("#aud_value_0", &firstCond, chromedp.ByQuery))
		if firstCond != "nights" {
			t.Errorf("the editor's first condition is %q, want nights", firstCond)
		}
		run(t, ctx, "reviewing", chromedp.Click("#review", chromedp.ByQuery), chromedp.WaitVisible("#confirm-summary", chromedp.ByQuery))
		waitText(t, ctx, "#confirm-summary", "tagged nights, worksite is Mercy and not tagged steward")
	}
	run(t, ctx, "back to a desktop", chromedp.EmulateViewport(1280, 800))
	if shots != "" {
		run(t, ctx, "opening contacts", chromedp.Navigate(base+"/contacts"), chromedp.WaitVisible("#contacts", chromedp.ByQuery))
		shoot(t, ctx, shots, "contacts")
		run(t, ctx, "opening Eve", chromedp.Navigate(base+"/contacts/"+ids["Eve"]), chromedp.WaitVisible("#member-tags", chromedp.ByQuery))
		shoot(t, ctx, shots, "contact")
	}
}
