package stack_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	consoledb "github.com/musterhq/muster/services/console/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

const (
	consoleAdmin    = "admin@muster.local"
	consolePassword = "browser-test-password"
)

// chromium finds the browser the UI tests drive. Its absence fails the
// test: a skipped browser test would let a broken console pass CI.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("MUSTER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: the console's browser tests need it. Install it with " +
		"`apt-get install -y chromium` (bash .ci/run does), or point MUSTER_CHROMIUM at a Chrome binary")
	return ""
}

// browserContext starts a headless Chromium with a fresh profile for one
// test.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// startConsoleStack starts the whole platform with the console; each
// change, when given, adjusts the options first.
func startConsoleStack(t *testing.T, changes ...func(*stack.Options)) *stack.Stack {
	t.Helper()
	opts := stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB: testkit.Database(t, deliverydb.FS), ConsoleDB: testkit.Database(t, consoledb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		ConsoleAddr: "127.0.0.1:0", ConsoleAdminEmail: consoleAdmin, ConsoleAdminPassword: consolePassword,
		AutoCallbacks: true, CallbackDelay: 20 * time.Millisecond,
		RedisPrefix: redisPrefix(t), DeliveryOptions: delivery.Options{Clock: middayClock(t)},
		Callers: svcauthtest.Trusted(), Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	}
	for _, change := range changes {
		change(&opts)
	}
	st, err := stack.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	return st
}

// withAdminToken has the stack write an admin API token (st.AdminToken).
func withAdminToken(o *stack.Options) { o.AdminToken = true }

// run runs browser actions, failing the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var loc string
		_ = chromedp.Run(ctx, chromedp.Location(&loc))
		t.Fatalf("%s (at %s): %v", what, loc, err)
	}
}

// waitText waits until the element's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got string
	for {
		err := chromedp.Run(ctx, chromedp.Text(sel, &got, chromedp.ByQuery, chromedp.NodeVisible))
		if err == nil && strings.Contains(got, want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %q; it shows %q (%v)", sel, want, got, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	run(t, ctx, "signing in as "+email,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible("#email", chromedp.ByQuery),
		chromedp.SendKeys("#email", email, chromedp.ByQuery),
		chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Submit("#password", chromedp.ByQuery),
	)
	// The sign-in page has a heading too: wait until the browser has
	// left it, or the next navigation would cut the sign-in short.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var loc string
		run(t, ctx, "reading where the sign-in led", chromedp.Location(&loc))
		if !strings.Contains(loc, "/signin") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("signing in as %s never left %s", email, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
	run(t, ctx, "waiting for the page after signing in", chromedp.WaitVisible("main h1", chromedp.ByQuery))
}

// TestConsoleInABrowser is an organizer's day through the real UI in a
// headless Chromium, against the whole platform: sign in, import a CSV
// with a bad row and read the error report, compose and launch a text to
// a tag, see the simulator receive it and the results update live, answer
// a reply from the inbox; then a viewer cannot launch and a request
// without a session is refused.
func TestConsoleInABrowser(t *testing.T) {
	st := startConsoleStack(t)
	ctx := browserContext(t)
	base := st.ConsoleURL
	shots := os.Getenv("MUSTER_SCREENSHOTS")

	signIn(t, ctx, base, consoleAdmin, consolePassword)
	waitText(t, ctx, "main h1", "Dashboard")

	// Import: three members of the rally list and one row with no usable
	// phone number.
	csv := filepath.Join(t.TempDir(), "members.csv")
	phones := map[string]string{"Ana": "+12125550101", "Bo": "+12125550102", "Cy": "+12125550103"}
	rows := "first_name,last_name,phone,tags,worksite\n" +
		"Ana,Diaz,(212) 555-0101,rally,North Clinic\n" +
		"Bo,Ng,212-555-0102,rally,North Clinic\n" +
		"Cy,Oke,+1 212 555 0103,rally;night,South Clinic\n" +
		"Dee,Park,not a phone,rally,North Clinic\n"
	if err := os.WriteFile(csv, []byte(rows), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "uploading the CSV",
		chromedp.Navigate(base+"/contacts/import"),
		chromedp.WaitVisible("#file", chromedp.ByQuery),
		chromedp.SetUploadFiles("#file", []string{csv}, chromedp.ByQuery),
		chromedp.Submit("#file", chromedp.ByQuery),
		chromedp.WaitVisible("#import", chromedp.ByQuery),
	)
	waitText(t, ctx, "#import-state", "done")
	report := waitText(t, ctx, "#error-report", "not a phone")
	if got := waitText(t, ctx, "#rejected", "1"); got != "1" {
		t.Fatalf("rejected = %q, want 1; report: %s", got, report)
	}
	shoot(t, ctx, shots, "import")

	// Compose: the count and preview come from contacts and campaigns.
	run(t, ctx, "composing",
		chromedp.Navigate(base+"/campaigns/new"),
		chromedp.WaitVisible("#name", chromedp.ByQuery),
		chromedp.SendKeys("#name", "Rally", chromedp.ByQuery),
		chromedp.SendKeys("#aud_value_0", "rally", chromedp.ByQuery),
		chromedp.SendKeys("#body", "Hi {{first_name}}, rally Friday 5pm at City Hall. Muster. Reply STOP to opt out.", chromedp.ByQuery),
	)
	waitText(t, ctx, "#audience-count", "3 members match: 3 can be texted.")
	run(t, ctx, "saving the draft", chromedp.Submit("#body", chromedp.ByQuery), chromedp.WaitVisible("#editor", chromedp.ByQuery))
	waitText(t, ctx, "#counter", "1 segment (GSM-7)")
	waitText(t, ctx, "#preview", "rally Friday 5pm")
	// A curly quote makes the text UCS-2: the editor warns.
	run(t, ctx, "typing a curly quote",
		chromedp.Evaluate(`(b => { b.focus(); b.setSelectionRange(b.value.length, b.value.length); })(document.getElementById("body"))`, nil),
		chromedp.SendKeys("#body", " It’s on.", chromedp.ByQuery))
	waitText(t, ctx, "#counter", "UCS-2")
	shoot(t, ctx, shots, "compose")
	run(t, ctx, "reviewing", chromedp.Click("#review", chromedp.ByQuery), chromedp.WaitVisible("#confirm-summary", chromedp.ByQuery))
	waitText(t, ctx, "#confirm-summary", "3 people tagged rally will get this text now")
	shoot(t, ctx, shots, "launch")
	run(t, ctx, "launching", chromedp.Click("#launch", chromedp.ByQuery), chromedp.WaitVisible("#results", chromedp.ByQuery))

	// The simulator gets the three texts and the page counts them live.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("outbox: %+v", st.Sim.Outbox())
			var out any
			call(t, "delivery", "GET", st.DeliveryURL+"/messages", nil, &out)
			t.Logf("messages: %+v", out)
		}
	})
	testkit.Eventually(t, "three texts at the simulator", func() bool {
		n := 0
		for name, phone := range phones {
			for _, m := range outboxTo(st.Sim, phone, "outbound-api") {
				if strings.HasPrefix(m.Body, "Hi "+name+", rally") {
					n++
				}
			}
		}
		return n == 3
	})
	waitText(t, ctx, "#delivered", "3")
	waitText(t, ctx, "#live", "live")

	// A member's question lands in the inbox and is answered from there.
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones["Ana"], To: "+15550001111", Body: "Can I bring my kids?"}); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#replies", "1")
	testkit.Eventually(t, "the question in the inbox", func() bool {
		var n int
		_ = chromedp.Run(ctx, chromedp.Navigate(base+"/inbox"), chromedp.Evaluate(`document.querySelectorAll("#conversations li").length`, &n))
		return n == 1
	})
	run(t, ctx, "opening the conversation",
		chromedp.Click("#conversations a.conv-open", chromedp.ByQuery),
		chromedp.WaitVisible("article.item textarea", chromedp.ByQuery),
	)
	shoot(t, ctx, shots, "inbox")
	run(t, ctx, "replying",
		chromedp.SendKeys("article.item textarea", "Of course, bring them!", chromedp.ByQuery),
		chromedp.Submit("article.item textarea", chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery),
	)
	testkit.Eventually(t, "the answer at Ana's phone", func() bool {
		for _, m := range outboxTo(st.Sim, phones["Ana"], "outbound-api") {
			if m.Body == "Of course, bring them!" {
				return true
			}
		}
		return false
	})
	// A possible opt-out waits at the top of the inbox and an organizer
	// decides it with one click: Bo is then suppressed.
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones["Bo"], To: "+15550001111", Body: "I told you already to stop"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the possible opt-out in the inbox", func() bool {
		var n int
		_ = chromedp.Run(ctx, chromedp.Navigate(base+"/inbox"), chromedp.Evaluate(`document.querySelectorAll("#reviews article.review").length`, &n))
		return n == 1
	})
	waitText(t, ctx, "#reviews article.review", "I told you already to stop")
	shoot(t, ctx, shots, "inbox-possible-opt-out")
	run(t, ctx, "deciding the possible opt-out",
		chromedp.Click(`#reviews article.review button.danger`, chromedp.ByQuery),
		chromedp.WaitVisible(".notice", chromedp.ByQuery),
	)
	var sup struct {
		Suppressions []struct{ Address, Source, Evidence string } `json:"suppressions"`
	}
	call(t, "delivery", "GET", st.DeliveryURL+"/suppressions", nil, &sup)
	if len(sup.Suppressions) != 1 || sup.Suppressions[0].Address != phones["Bo"] || !strings.Contains(sup.Suppressions[0].Evidence, "confirmed by") {
		t.Fatalf("suppressions after the decision = %+v, want Bo's, confirmed by the organizer", sup.Suppressions)
	}
	var campaignURL string
	run(t, ctx, "finding the campaign",
		chromedp.Navigate(base+"/campaigns"),
		chromedp.AttributeValue("#campaigns a", "href", &campaignURL, nil, chromedp.ByQuery, chromedp.NodeVisible),
	)
	if shots != "" {
		takePageShots(t, ctx, base, shots, campaignURL)
	}

	// The admin invites a viewer by email; the viewer chooses a password
	// from the emailed link, then may look but not launch, pause or cancel.
	run(t, ctx, "inviting a viewer",
		chromedp.Navigate(base+"/admin/organizers"),
		chromedp.SendKeys("#inv-email", "viewer@muster.local", chromedp.ByQuery),
		chromedp.SetValue("#inv-role", "viewer", chromedp.ByQuery),
		chromedp.Submit("#inv-email", chromedp.ByQuery),
	)
	waitText(t, ctx, "#invited", "Invitation emailed to viewer@muster.local")
	run(t, ctx, "signing the admin out", chromedp.Submit("header form", chromedp.ByQuery), chromedp.WaitVisible("#email", chromedp.ByQuery))
	run(t, ctx, "choosing a password from the emailed link",
		chromedp.Navigate(emailedLinkTo(t, st, "viewer@muster.local", 1)),
		chromedp.WaitVisible("#new", chromedp.ByQuery),
		chromedp.SendKeys("#new", "viewer-password-1", chromedp.ByQuery),
		chromedp.SendKeys("#confirm", "viewer-password-1", chromedp.ByQuery),
		chromedp.Submit("#confirm", chromedp.ByQuery),
	)
	waitText(t, ctx, "main h1", "Dashboard")
	waitText(t, ctx, ".me", "viewer")
	run(t, ctx, "opening the campaign as a viewer",
		chromedp.Navigate(base+campaignURL),
		chromedp.WaitVisible("#results", chromedp.ByQuery),
	)
	var buttons int
	var status int
	id := strings.TrimPrefix(campaignURL, "/campaigns/")
	run(t, ctx, "trying to pause as a viewer",
		chromedp.Evaluate(`document.querySelectorAll("main form button").length`, &buttons),
		chromedp.Evaluate(`fetch("/campaigns/`+id+`/pause", {method: "POST", headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}}).then(r => r.status)`, &status,
			func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if buttons != 0 || status != http.StatusForbidden {
		t.Fatalf("viewer sees %d action buttons and pausing answers %d; want none and 403", buttons, status)
	}
	var campaignStatus string
	if code := call(t, "campaigns", "GET", st.CampaignsURL+"/campaigns/"+id, nil, &struct {
		Status *string `json:"status"`
	}{&campaignStatus}); code != 200 || campaignStatus != "launched" {
		t.Fatalf("campaign = %d %q after the viewer tried, want still launched", code, campaignStatus)
	}

	// No session, no API.
	resp, err := http.Get(base + "/api/campaigns")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("api without a session = %d, want 401", resp.StatusCode)
	}
}

// shoot saves the page as it is at desktop (1280×800) and phone (390×844)
// widths under dir when MUSTER_SCREENSHOTS names one (the docs' pictures
// are made this way); otherwise it does nothing.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	for _, size := range []struct {
		suffix        string
		width, height int64
		mobile        bool
	}{{"phone", 390, 844, true}, {"desktop", 1280, 800, false}} {
		var png []byte
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		run(t, ctx, "taking a screenshot of "+name,
			chromedp.EmulateViewport(size.width, size.height, opts...),
			chromedp.Sleep(300*time.Millisecond),
			chromedp.CaptureScreenshot(&png),
		)
		if err := os.WriteFile(filepath.Join(dir, name+"-"+size.suffix+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// takePageShots visits the main pages for the docs' screenshots.
func takePageShots(t *testing.T, ctx context.Context, base, dir, campaignURL string) {
	t.Helper()
	for _, p := range []struct{ name, path, wait string }{
		{"dashboard", "/", "#replies-waiting"},
		{"contacts", "/contacts", "#contacts"},
		{"campaign", campaignURL, "#results"},
		{"optouts", "/optouts", "main h1"},
		{"audit", "/admin/audit", "#audit"},
	} {
		run(t, ctx, "opening "+p.path, chromedp.Navigate(base+p.path), chromedp.WaitVisible(p.wait, chromedp.ByQuery))
		shoot(t, ctx, dir, p.name)
	}
}
