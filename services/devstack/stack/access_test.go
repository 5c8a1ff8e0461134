package stack_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
)

// TestConsoleFirstRunInvitesAndResets drives a fresh console through a
// real Chromium, at desktop and phone sizes, each on a fresh stack: the
// admin signs in and lands on first-run setup, names the union and its
// zone, and from then on the dashboard and a member's HELP reply use the
// union's name; the admin invites an organizer, who opens the link in
// the email SendGrid (the simulator) received, chooses a password and is
// signed in; then that organizer forgets it, resets it the same way, and
// the old password no longer works.
func TestConsoleFirstRunInvitesAndResets(t *testing.T) {
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		t.Run(size.name, func(t *testing.T) {
			st := startFirstRunStack(t)
			ctx := browserContext(t)
			opts := []chromedp.EmulateViewportOption{}
			if size.mobile {
				opts = append(opts, chromedp.EmulateMobile)
			}
			resize := chromedp.EmulateViewport(size.width, size.height, opts...)
			run(t, ctx, "sizing the window", resize)
			firstRunInviteAndReset(t, ctx, st, size.mobile, resize)
		})
	}
}

func startFirstRunStack(t *testing.T) *stack.Stack {
	t.Helper()
	st := startConsoleStack(t, func(o *stack.Options) { o.FirstRun = true })
	return st
}

var (
	emailedLink = regexp.MustCompile(`https?://\S+/account/set-password\?token=\S+`)
	opaqueToken = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// emailedLinkTo waits for the n-th email to addr in the simulator and
// returns the link in it, checking it leads to the console and carries
// nothing of the person.
func emailedLinkTo(t *testing.T, st *stack.Stack, addr string, n int) string {
	t.Helper()
	var mine []sim.Email
	testkit.Eventually(t, "email to "+addr, func() bool {
		mine = mine[:0]
		for _, e := range st.Sim.Emails() {
			if e.To == addr {
				mine = append(mine, e)
			}
		}
		return len(mine) >= n
	})
	link := emailedLink.FindString(mine[n-1].Text)
	token, ok := strings.CutPrefix(link, st.ConsoleURL+"/account/set-password?token=")
	if !ok {
		t.Fatalf("the email's link %q does not lead to the console (%s):\n%s", link, st.ConsoleURL, mine[n-1].Text)
	}
	// The token is 32 random bytes and may spell a name by chance; the
	// link must be the console's page and that token, nothing else.
	if !opaqueToken.MatchString(token) {
		t.Fatalf("the link %q carries more than a random token", link)
	}
	return link
}

// firstRunInviteAndReset is the test at one size; resize restores that
// size after screenshots (taken at both).
func firstRunInviteAndReset(t *testing.T, ctx context.Context, st *stack.Stack, phone bool, resize chromedp.Action) {
	base := st.ConsoleURL
	shots := os.Getenv("MUSTER_SCREENSHOTS")
	axe, err := os.ReadFile("testdata/axe/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	// At desktop size each new page is checked with axe-core (no serious
	// or critical violation); at phone size, for sideways scrolling.
	narrow := func(what string) {
		t.Helper()
		if !phone {
			if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
				t.Errorf("%s: accessibility violations:\n  %s", what, strings.Join(v, "\n  "))
			}
			return
		}
		var wide bool
		run(t, ctx, "measuring "+what, chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &wide))
		if wide {
			t.Errorf("%s scrolls sideways on a phone", what)
		}
	}

	// First run: the admin is taken to setup, with the sender shown and
	// sensible defaults.
	signIn(t, ctx, base, consoleAdmin, consolePassword)
	waitText(t, ctx, "main h1", "Set up your union's console")
	waitText(t, ctx, "#sender-number", "(555) 000-1111")
	var zone, help string
	run(t, ctx, "reading the defaults",
		chromedp.Value("#time_zone", &zone, chromedp.ByQuery),
		chromedp.Value("#help_text", &help, chromedp.ByQuery))
	if zone != "America/New_York" || !strings.HasPrefix(help, "Muster: member alerts") {
		t.Errorf("setup's defaults: zone %q, HELP %q", zone, help)
	}
	// Going elsewhere comes back to setup until it is done.
	run(t, ctx, "trying the composer first", chromedp.Navigate(base+"/campaigns/new"))
	waitText(t, ctx, "main h1", "Set up your union's console")
	narrow("setup")
	run(t, ctx, "filling setup",
		chromedp.SendKeys("#org_name", "Local 1199", chromedp.ByQuery),
		chromedp.SetValue("#time_zone", "America/Chicago", chromedp.ByQuery),
	)
	shoot(t, ctx, shots, "setup")
	run(t, ctx, "sizing the window back", resize)
	run(t, ctx, "finishing setup", chromedp.Click("#finish-setup", chromedp.ByQuery), chromedp.WaitVisible("#org-name", chromedp.ByQuery))
	waitText(t, ctx, "main h1", "Dashboard")
	waitText(t, ctx, "#org-name", "Local 1199")

	// A member's HELP reply names the union now, not Muster.
	res, err := st.Sim.SendReply(context.Background(), sim.Reply{From: "+12125550177", To: "+15550001111", Body: "HELP"})
	if err != nil {
		t.Fatal(err)
	}
	reply := res.Body
	if !strings.Contains(reply, "<Message>Local 1199:") || strings.Contains(reply, "Muster") {
		t.Errorf("the HELP reply = %q, want it signed Local 1199", reply)
	}
	// So does the member's preferences page the reply links to.
	prefs := regexp.MustCompile(`https?://[^\s<&]+/prefs/[^\s<&]+`).FindString(reply)
	if prefs == "" {
		t.Fatalf("no preferences link in the HELP reply %q", reply)
	}
	var memberPage string
	run(t, ctx, "opening the member's preferences page", chromedp.Navigate(prefs), chromedp.WaitVisible("h1", chromedp.ByQuery),
		chromedp.Text("body", &memberPage, chromedp.ByQuery))
	if !strings.Contains(memberPage, "Local 1199") || strings.Contains(memberPage, "Muster") {
		t.Errorf("the member's preferences page does not name the union:\n%s", memberPage)
	}

	// Invite an organizer by email.
	rosa, first, second := "rosa@muster.local", "rosa's first password", "rosa's second password"
	run(t, ctx, "inviting Rosa",
		chromedp.Navigate(base+"/admin/organizers"),
		chromedp.WaitVisible("#inv-email", chromedp.ByQuery),
		chromedp.SendKeys("#inv-email", rosa, chromedp.ByQuery),
		chromedp.SendKeys("#inv-name", "Rosa", chromedp.ByQuery),
		chromedp.Click("#invite", chromedp.ByQuery),
	)
	waitText(t, ctx, "#invited", "Invitation emailed to "+rosa)
	narrow("the organizers page")
	link := emailedLinkTo(t, st, rosa, 1)
	run(t, ctx, "signing the admin out", chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByQuery))

	// Rosa opens the link, chooses her password and is signed in.
	setFromLink := func(link, heading, password string) {
		t.Helper()
		run(t, ctx, "opening the emailed link", chromedp.Navigate(link), chromedp.WaitVisible("#new", chromedp.ByQuery))
		waitText(t, ctx, "main h1", heading)
		waitText(t, ctx, "#link-email", rosa)
		narrow("the set-password page")
		run(t, ctx, "choosing a password",
			chromedp.SendKeys("#new", password, chromedp.ByQuery),
			chromedp.SendKeys("#confirm", password, chromedp.ByQuery),
			chromedp.Click("#set-password", chromedp.ByQuery),
		)
		waitText(t, ctx, "main h1", "Dashboard")
		waitText(t, ctx, ".me", "Rosa")
		waitText(t, ctx, ".me", "organizer")
	}
	setFromLink(link, "Welcome", first)
	// The link works once.
	run(t, ctx, "opening the link again", chromedp.Navigate(link))
	waitText(t, ctx, "#link-dead", "expired or was already used")
	narrow("the dead-link page")

	// Rosa forgets her password and resets it from the sign-in page.
	run(t, ctx, "signing Rosa out", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(`form[action="/signout"] button`, chromedp.ByQuery),
		chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery), chromedp.WaitVisible("#forgot", chromedp.ByQuery))
	run(t, ctx, "opening the reset form", chromedp.Click("#forgot", chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByQuery))
	narrow("the reset form")
	run(t, ctx, "asking for a reset",
		chromedp.SendKeys("#email", rosa, chromedp.ByQuery),
		chromedp.Submit("#email", chromedp.ByQuery),
	)
	waitText(t, ctx, "#reset-sent", "If an account uses")
	narrow("the reset page")
	setFromLink(emailedLinkTo(t, st, rosa, 2), "Choose a new password", second)

	// The old password no longer works; the new one does.
	run(t, ctx, "signing Rosa out", chromedp.Click(`form[action="/signout"] button`, chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByQuery))
	run(t, ctx, "signing in with the old password",
		chromedp.SendKeys("#email", rosa, chromedp.ByQuery),
		chromedp.SendKeys("#password", first, chromedp.ByQuery),
		chromedp.Submit("#password", chromedp.ByQuery),
	)
	waitText(t, ctx, "#signin-error", "do not match an account")
	signIn(t, ctx, base, rosa, second)
	waitText(t, ctx, "main h1", "Dashboard")
	waitText(t, ctx, "#org-name", "Local 1199")
}
