package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
	"github.com/musterhq/muster/shared/svcauth"
)

// fakeDelivery stands in for delivery's settings and account email, and
// checks the console's service token as delivery does.
type fakeDelivery struct {
	t        *testing.T
	mu       sync.Mutex
	emails   []map[string]string
	settings map[string]any
	emailOn  bool
}

func (d *fakeDelivery) sent() []map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]map[string]string(nil), d.emails...)
}

func (d *fakeDelivery) saved() map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.settings
}

// withDelivery points the console at a fake delivery with email on (or
// off), signed in with a key of the test's own.
func withDelivery(t *testing.T, emailOn bool) (*fakeDelivery, func(*app.Config)) {
	t.Helper()
	d := &fakeDelivery{t: t, emailOn: emailOn, settings: map[string]any{
		"org_name": "Muster", "time_zone": "America/New_York", "help_text": "Muster: member alerts. Reply STOP to opt out.",
		"opt_out_text": "Muster: You are unsubscribed.", "opt_in_text": "Muster: You are resubscribed.",
		"help_text_es": "Muster: alertas. Responda ALTO.", "opt_out_text_es": "Muster: Ya no recibirá más.",
		"send_window": "08:00-21:00", "cap_per_day": 3, "cap_per_week": 10,
	}}
	seed, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := svcauth.ParseTrusted("console=" + public)
	verifier, err := svcauth.NewVerifier("delivery", trusted, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if caller, err := verifier.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err != nil || caller != "console" {
			t.Errorf("%s %s reached delivery without the console's token: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case r.URL.Path == "/senders":
			_ = json.NewEncoder(w).Encode(map[string]any{"sms_from": "+15550001111", "email_configured": d.emailOn})
		case r.URL.Path == "/account-emails" && r.Method == http.MethodPost:
			var e map[string]string
			_ = json.NewDecoder(r.Body).Decode(&e)
			d.emails = append(d.emails, e)
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"provider_id": "sg1"}`)
		case r.URL.Path == "/settings" && r.Method == http.MethodGet:
			_ = json.NewEncoder(w).Encode(map[string]any{"settings": d.settings})
		case r.URL.Path == "/settings" && r.Method == http.MethodPut:
			var in map[string]any
			_ = json.NewDecoder(r.Body).Decode(&in)
			delete(in, "updated_by")
			d.settings = in
			_ = json.NewEncoder(w).Encode(map[string]any{"settings": d.settings})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error": "no such route", "kind": "not_found"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return d, func(cfg *app.Config) {
		cfg.DeliveryURL, cfg.ServiceKey = srv.URL, seed
	}
}

var (
	linkInEmail = regexp.MustCompile(`https?://\S+/account/set-password\?token=\S+`)
	opaqueToken = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// link is the set-password path of the newest email to addr, waiting for
// it (a reset's email goes after the answer).
func (d *fakeDelivery) link(t *testing.T, addr string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var mine []map[string]string
		for _, e := range d.sent() {
			if e["to"] == addr {
				mine = append(mine, e)
			}
		}
		if len(mine) >= n {
			m := linkInEmail.FindString(mine[n-1]["text"])
			if m == "" {
				t.Fatalf("no link in the email: %q", mine[n-1]["text"])
			}
			u, err := url.Parse(m)
			if err != nil {
				t.Fatalf("the link %q does not parse: %v", m, err)
			}
			// The token is 32 random bytes, so it may spell "kim" by
			// chance; what must hold is that it is only that, and
			// nothing else in the link names the person.
			local := strings.Split(addr, "@")[0]
			q := u.Query()
			if len(q) != 1 || !opaqueToken.MatchString(q.Get("token")) ||
				strings.Contains(strings.ToLower(u.Host+u.Path), local) {
				t.Fatalf("the link %q carries personal data", m)
			}
			return u.RequestURI()
		}
		if time.Now().After(deadline) {
			t.Fatalf("email %d to %s never came; sent: %v", n, addr, d.sent())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	formCSRF     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	formToken    = regexp.MustCompile(`name="token" value="([^"]+)"`)
	resetSentMsg = regexp.MustCompile(`(?s)<section.*</section>`)
)

// setPassword opens a link and posts a password on it; it returns the
// answer to the post (or to the opening, when the link shows no form).
func (b *browser) setPassword(path, password, again string) (*http.Response, string) {
	b.t.Helper()
	resp, page := b.do("GET", path, nil, nil)
	m, tok := formCSRF.FindStringSubmatch(page), formToken.FindStringSubmatch(page)
	if m == nil || tok == nil {
		return resp, page
	}
	return b.do("POST", "/account/set-password", url.Values{"csrf": {m[1]}, "token": {tok[1]}, "new": {password}, "confirm": {again}}, nil)
}

// requestReset asks for a reset of email's password from a fresh page.
func (b *browser) requestReset(email string) (*http.Response, string) {
	b.t.Helper()
	_, page := b.do("GET", "/account/forgot", nil, nil)
	m := formCSRF.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no csrf field on the reset page:\n%s", page)
	}
	return b.do("POST", "/account/forgot", url.Values{"csrf": {m[1]}, "email": {email}}, nil)
}

func TestInvitationEmailsASingleUseLink(t *testing.T) {
	d, change := withDelivery(t, true)
	c := startConsole(t, 100, change)
	admin := signedIn(t, c)
	_, page := admin.do("POST", "/admin/organizers", url.Values{"csrf": {admin.csrf}, "email": {"Rosa@Muster.test"}, "name": {"Rosa"}, "role": {"organizer"}}, nil)
	if !strings.Contains(page, "Invitation emailed to <strong>rosa@muster.test</strong>") || strings.Contains(page, "one-time-password") {
		t.Fatalf("the organizers page does not say the invitation went by email:\n%s", page)
	}
	link := d.link(t, "rosa@muster.test", 1)
	// The invited account cannot be signed in to before the link is used.
	rosa := newBrowser(t, c.URL())
	_, form := rosa.do("GET", link, nil, nil)
	if !strings.Contains(form, "Welcome: choose your password") || !strings.Contains(form, "rosa@muster.test") {
		t.Fatalf("the invitation link does not open its form:\n%s", form)
	}
	// A mismatch is shown on the form and spends nothing.
	if resp, page := rosa.setPassword(link, "a long new password 123", "another long password"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "do not match") {
		t.Fatalf("mismatched passwords = %d:\n%s", resp.StatusCode, page)
	}
	if resp, page := rosa.setPassword(link, "short", "short"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "at least 12") {
		t.Fatalf("a short password = %d:\n%s", resp.StatusCode, page)
	}
	resp, _ := rosa.setPassword(link, "rosa's long password", "rosa's long password")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("setting the password = %d to %q, want signed in and sent home", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, page := rosa.do("GET", "/account", nil, nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, "rosa@muster.test") {
		t.Fatalf("after the link, /account = %d; not signed in as rosa", resp.StatusCode)
	}
	// Single use: the same link again is dead, and changes nothing.
	if resp, page := newBrowser(t, c.URL()).setPassword(link, "a thief's long password", "a thief's long password"); resp.StatusCode != http.StatusGone || !strings.Contains(page, "expired or was already used") {
		t.Fatalf("the link used twice = %d:\n%s", resp.StatusCode, page)
	}
	if code, _ := newBrowser(t, c.URL()).signIn("rosa@muster.test", "rosa's long password"); code != http.StatusSeeOther {
		t.Fatalf("rosa cannot sign in with her password: %d", code)
	}
	_, audit := admin.do("GET", "/admin/audit", nil, nil)
	for _, want := range []string{"organizer.invite", "link emailed", "organizer.join"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
}

func TestInvitationFallsBackToAOneTimePasswordWithoutEmail(t *testing.T) {
	d, change := withDelivery(t, false)
	c := startConsole(t, 100, change)
	admin := signedIn(t, c)
	_, page := admin.do("POST", "/admin/organizers", url.Values{"csrf": {admin.csrf}, "email": {"sam@muster.test"}, "role": {"viewer"}}, nil)
	if !strings.Contains(page, "email is not configured") || !oneTimePassword.MatchString(page) {
		t.Fatalf("without email the page does not show a one-time password and why:\n%s", page)
	}
	if len(d.sent()) != 0 {
		t.Fatalf("emails sent with email off: %v", d.sent())
	}
	// A refused invitation keeps what was typed.
	_, page = admin.do("POST", "/admin/organizers", url.Values{"csrf": {admin.csrf}, "email": {"sam@muster.test"}, "name": {"Sam Two"}, "role": {"viewer"}}, nil)
	if !strings.Contains(page, "already exists") || !strings.Contains(page, `value="Sam Two"`) {
		t.Fatalf("a second invitation of the same email is not refused on the form:\n%s", page)
	}
}

func TestResetLinksExpireAndWrongTokensOpenNothing(t *testing.T) {
	d, change := withDelivery(t, true)
	c := startConsole(t, 100, change)
	b := newBrowser(t, c.URL())
	if resp, _ := b.requestReset(adminEmail); resp.StatusCode != http.StatusOK {
		t.Fatalf("reset request = %d", resp.StatusCode)
	}
	link := d.link(t, adminEmail, 1)
	// Wrong tokens: none, garbage, and the right one changed by a letter.
	u, _ := url.Parse(link)
	tok := u.Query().Get("token")
	flipped := "A" + tok[1:]
	if tok[0] == 'A' {
		flipped = "B" + tok[1:]
	}
	for _, p := range []string{"/account/set-password", "/account/set-password?token=nonsense", "/account/set-password?token=" + url.QueryEscape(flipped)} {
		if resp, page := newBrowser(t, c.URL()).setPassword(p, "a wrong long password", "a wrong long password"); resp.StatusCode != http.StatusGone || !strings.Contains(page, "expired or was already used") {
			t.Errorf("%s = %d, want the dead-link page", p, resp.StatusCode)
		}
	}
	// Posting a made-up token straight to the form is refused too.
	x := newBrowser(t, c.URL())
	_, page := x.do("GET", "/account/forgot", nil, nil)
	m := formCSRF.FindStringSubmatch(page)
	if resp, _ := x.do("POST", "/account/set-password", url.Values{"csrf": {m[1]}, "token": {account.NewSecret()}, "new": {"a wrong long password"}, "confirm": {"a wrong long password"}}, nil); resp.StatusCode != http.StatusGone {
		t.Errorf("posting a made-up token = %d, want 410", resp.StatusCode)
	}
	// Past its hour the real link is dead.
	c.clock.Advance(account.ResetTTL + time.Minute)
	if resp, _ := newBrowser(t, c.URL()).setPassword(link, "a late long password", "a late long password"); resp.StatusCode != http.StatusGone {
		t.Fatalf("an expired link = %d, want 410", resp.StatusCode)
	}
	if code, _ := newBrowser(t, c.URL()).signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatalf("the old password stopped working though no link was used: %d", code)
	}
}

func TestResetEndsOtherSessionsAndTheOldPassword(t *testing.T) {
	d, change := withDelivery(t, true)
	c := startConsole(t, 100, change)
	elsewhere := signedIn(t, c)
	b := newBrowser(t, c.URL())
	b.requestReset(adminEmail)
	first := d.link(t, adminEmail, 1)
	// Only the newest link works.
	b.requestReset(adminEmail)
	second := d.link(t, adminEmail, 2)
	if resp, _ := b.do("GET", first, nil, nil); resp.StatusCode != http.StatusGone {
		t.Fatalf("an older reset link = %d, want 410", resp.StatusCode)
	}
	resp, _ := b.setPassword(second, "the admin's new password", "the admin's new password")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reset = %d", resp.StatusCode)
	}
	if resp, _ := elsewhere.do("GET", "/account", nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("the session from before the reset = %d, want it ended", resp.StatusCode)
	}
	if code, _ := newBrowser(t, c.URL()).signIn(adminEmail, adminPassword); code != http.StatusUnauthorized {
		t.Fatalf("the old password = %d, want 401", code)
	}
	if code, _ := newBrowser(t, c.URL()).signIn(adminEmail, "the admin's new password"); code != http.StatusSeeOther {
		t.Fatalf("the new password = %d, want 303", code)
	}
	_, audit := b.do("GET", "/admin/audit", nil, nil)
	for _, want := range []string{"password.reset.request", "password.reset<"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
}

func TestResetRequestsDoNotTellWhoHasAnAccount(t *testing.T) {
	d, change := withDelivery(t, true)
	c := startConsole(t, 100, change)
	answer := func(email string) (int, string) {
		resp, page := newBrowser(t, c.URL()).requestReset(email)
		section := resetSentMsg.FindString(page)
		return resp.StatusCode, strings.ReplaceAll(section, email, "EMAIL")
	}
	knownCode, known := answer(adminEmail)
	unknownCode, unknown := answer("nobody@muster.test")
	if knownCode != http.StatusOK || knownCode != unknownCode || known != unknown || !strings.Contains(known, "If an account uses") {
		t.Fatalf("known email = %d %q, unknown = %d %q; want the same answer", knownCode, known, unknownCode, unknown)
	}
	d.link(t, adminEmail, 1)
	// Both requests are audited (the unknown one once its work is done),
	// and the unknown email got nothing.
	admin := signedIn(t, c)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, audit := admin.do("GET", "/admin/audit", nil, nil)
		if strings.Contains(audit, "no such account; nothing sent") && strings.Contains(audit, "link emailed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reset requests are not both audited:\n%s", audit)
		}
	}
	for _, e := range d.sent() {
		if e["to"] != adminEmail {
			t.Errorf("an email went to %s", e["to"])
		}
	}
}

func TestResetRequestsAreRateLimited(t *testing.T) {
	_, change := withDelivery(t, true)
	c := startConsole(t, 2, change)
	for i := range 2 {
		if resp, _ := newBrowser(t, c.URL()).requestReset("nobody@muster.test"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d = %d, want 200", i+1, resp.StatusCode)
		}
	}
	resp, page := newBrowser(t, c.URL()).requestReset("nobody@muster.test")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many requests") {
		t.Fatalf("third request = %d, want 429 on the form", resp.StatusCode)
	}
}

func TestFirstRunSetupComesFirst(t *testing.T) {
	d, change := withDelivery(t, true)
	c := startConsoleAt(t, 100, true, change)
	admin := signedIn(t, c)
	for _, p := range []string{"/", "/campaigns/new", "/settings", "/admin/organizers"} {
		if resp, _ := admin.do("GET", p, nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/setup" {
			t.Errorf("an admin's GET %s before setup = %d to %q, want setup", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// An organizer reads on, with a note, but cannot compose yet.
	invitee := "olu@muster.test"
	admin.do("POST", "/admin/organizers", url.Values{"csrf": {admin.csrf}, "email": {invitee}, "role": {"organizer"}}, nil)
	olu := newBrowser(t, c.URL())
	if resp, _ := olu.setPassword(d.link(t, invitee, 1), "olu's long password", "olu's long password"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("olu's invitation = %d", resp.StatusCode)
	}
	_, page := olu.do("GET", "/account", nil, nil)
	if !strings.Contains(page, "An admin has not finished setup") {
		t.Errorf("an organizer's page before setup has no note:\n%s", page)
	}
	if resp, _ := olu.do("GET", "/campaigns/new", nil, nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("an organizer composing before setup = %d, want 409", resp.StatusCode)
	}
	// The form: defaults, the sender, and errors on the form.
	_, form := admin.do("GET", "/admin/setup", nil, nil)
	for _, want := range []string{`value="America/New_York"`, "DELIVERY_TWILIO_FROM", "(555) 000-1111", "Muster: member alerts"} {
		if !strings.Contains(form, want) {
			t.Errorf("the setup form lacks %q", want)
		}
	}
	if strings.Contains(form, `id="org_name" name="org_name" required maxlength="100" value="Muster"`) {
		t.Errorf("setup offers the product's name as the union's")
	}
	fields := url.Values{"csrf": {admin.csrf}, "org_name": {"Local 1199"}, "time_zone": {"Mars/Olympus"},
		"help_text": {"Muster: member alerts. Reply STOP to opt out."}, "opt_out_text": {"Local 1199: You are unsubscribed."},
		"help_text_es": {"Muster: alertas. Responda ALTO."}, "opt_out_text_es": {"Muster: Ya no recibirá más."}}
	resp, page := admin.do("POST", "/admin/setup", fields, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "is not a time zone") || !strings.Contains(page, `value="Local 1199"`) {
		t.Fatalf("a bad zone = %d, want the form with the error and the name kept:\n%s", resp.StatusCode, page)
	}
	fields.Set("time_zone", "America/Chicago")
	if resp, _ := admin.do("POST", "/admin/setup", fields, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("finishing setup = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	s := d.saved()
	want := map[string]string{"org_name": "Local 1199", "time_zone": "America/Chicago", "help_text": "Local 1199: member alerts. Reply STOP to opt out.",
		"opt_in_text": "Local 1199: You are resubscribed.", "opt_out_text_es": "Local 1199: Ya no recibirá más.", "send_window": "08:00-21:00"}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("delivery's %s = %v, want %q", k, s[k], v)
		}
	}
	// Campaigns is told too: {{org_name}} and the first-text check name
	// the union.
	if got := c.toldOrgName(); got != "Local 1199" {
		t.Errorf("campaigns was told the union is %q, want Local 1199", got)
	}
	if resp, _ := admin.do("GET", "/admin/organizers", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("after setup /admin/organizers = %d, want 200", resp.StatusCode)
	}
	if _, page := olu.do("GET", "/account", nil, nil); strings.Contains(page, "An admin has not finished setup") {
		t.Errorf("the note stays after setup")
	}
	_, audit := admin.do("GET", "/admin/audit", nil, nil)
	if !strings.Contains(audit, "setup.done") {
		t.Errorf("setup is not in the audit log")
	}
}

func TestAnExpiredInvitationIsRenewedByAReset(t *testing.T) {
	d, change := withDelivery(t, true)
	c := startConsole(t, 100, change)
	admin := signedIn(t, c)
	admin.do("POST", "/admin/organizers", url.Values{"csrf": {admin.csrf}, "email": {"kim@muster.test"}, "role": {"organizer"}}, nil)
	invitation := d.link(t, "kim@muster.test", 1)
	c.clock.Advance(account.InviteTTL + time.Minute)
	kim := newBrowser(t, c.URL())
	if resp, page := kim.setPassword(invitation, "kim's long password", "kim's long password"); resp.StatusCode != http.StatusGone || !strings.Contains(page, "/account/forgot") {
		t.Fatalf("an invitation past 72 hours = %d, want the dead-link page pointing at a reset:\n%s", resp.StatusCode, page)
	}
	kim.requestReset("kim@muster.test")
	if resp, _ := kim.setPassword(d.link(t, "kim@muster.test", 2), "kim's long password", "kim's long password"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the reset link for an invited account = %d, want signed in", resp.StatusCode)
	}
	if code, _ := newBrowser(t, c.URL()).signIn("kim@muster.test", "kim's long password"); code != http.StatusSeeOther {
		t.Fatalf("kim cannot sign in: %d", code)
	}
}

func TestPublicURLIsChecked(t *testing.T) {
	for _, c := range []struct {
		url  string
		dev  bool
		want string
	}{
		{"https://muster.example.org", false, ""},
		{"http://127.0.0.1:8080", true, ""},
		{"http://muster.example.org", false, "must use https"},
		{"muster.example.org", true, "want a base URL"},
		{"https://muster.example.org/?next=x", false, "want a base URL"},
	} {
		cfg := app.DefaultConfig()
		cfg.PublicURL, cfg.DevMode = c.url, c.dev
		err := cfg.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CONSOLE_PUBLIC_URL=%q (dev %t): %v, want %q", c.url, c.dev, err, c.want)
		}
	}
}
