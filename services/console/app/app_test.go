package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
	"github.com/musterhq/muster/services/console/migrations"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/testkit"
)

const (
	adminEmail    = "admin@muster.test"
	adminPassword = "correct horse battery staple"
)

// console is a running console with a stand-in for campaigns that
// records the launches it is asked for.
type console struct {
	*app.App
	clock    *testkit.Clock
	mu       sync.Mutex
	launched []string
	// created are the bodies of the campaigns asked for; the last one is
	// served back as campaign c2.
	created []map[string]any
	// orgName is the union's name campaigns was last told.
	orgName string
}

// toldOrgName is the union's name the console last gave campaigns.
func (c *console) toldOrgName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.orgName
}

func (c *console) creates() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.created...)
}

func (c *console) launches() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.launched...)
}

// startConsole runs a console in development mode (its first admin keeps
// the configured password); change alters its configuration further.
func startConsole(t *testing.T, limit int, change ...func(*app.Config)) *console {
	t.Helper()
	return startConsoleAt(t, limit, false, change...)
}

// startConsoleAt is startConsole, at first run (no admin has finished
// setup) when firstRun is set; otherwise setup is marked done, as for a
// console already in use.
func startConsoleAt(t *testing.T, limit int, firstRun bool, change ...func(*app.Config)) *console {
	t.Helper()
	c := &console{clock: testkit.NewClock(t)}
	// The stand-in for campaigns checks the console's service token as
	// campaigns does: every request the console makes must carry one.
	seed, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	trusted, _ := svcauth.ParseTrusted("console=" + public)
	verifier, err := svcauth.NewVerifier("campaigns", trusted, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	campaigns := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if caller, err := verifier.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")); err != nil || caller != "console" {
			t.Errorf("%s %s reached campaigns without the console's token: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error": "service credentials not accepted", "kind": "unauthorized"}`)
			return
		}
		switch {
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/launch"):
			c.mu.Lock()
			c.launched = append(c.launched, r.URL.Path)
			c.mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"campaign": {"id": "c1", "status": "launching"}, "already_launched": false}`)
		case r.Method == http.MethodPost && r.URL.Path == "/campaigns":
			var in map[string]any
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error": "body: not JSON", "kind": "invalid", "field": "body"}`)
				return
			}
			c.mu.Lock()
			c.created = append(c.created, in)
			c.mu.Unlock()
			out := map[string]any{"id": "c2", "status": "draft"}
			for k, v := range in {
				out[k] = v
			}
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(out)
		case r.URL.Path == "/campaigns":
			_, _ = io.WriteString(w, `{"campaigns": []}`)
		case r.Method == http.MethodGet && r.URL.Path == "/campaigns/c2":
			created := c.creates()
			if len(created) == 0 {
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"error": "no such campaign", "kind": "not_found"}`)
				return
			}
			out := map[string]any{"id": "c2", "status": "draft"}
			for k, v := range created[len(created)-1] {
				out[k] = v
			}
			_ = json.NewEncoder(w).Encode(out)
		case r.URL.Path == "/campaigns/c2/estimate":
			_, _ = io.WriteString(w, `{"channels": {"sms": {"reachable": 3, "segments": 1, "encoding": "GSM-7"}, "email": {"reachable": 2}}, "total": 4, "excluded": 1}`)
		case r.URL.Path == "/campaigns/c2/preview":
			_, _ = io.WriteString(w, `{"sms": {"body": "Hi Alex, meet Tuesday"}, "email": {"subject": "Meet Tuesday, Alex", "text": "Dear Alex, come along."}, "warnings": []}`)
		case strings.HasSuffix(r.URL.Path, "/results/stream"):
			// A live stream that stays open until the caller leaves.
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: counts\ndata: {}\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case r.URL.Path == "/inbox":
			_, _ = io.WriteString(w, `{"items": []}`)
		case r.URL.Path == "/inbox/conversations":
			_, _ = io.WriteString(w, `{"conversations": []}`)
		case r.Method == http.MethodPut && r.URL.Path == "/settings/org-name":
			var body struct {
				OrgName string `json:"org_name"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			c.mu.Lock()
			c.orgName = body.OrgName
			c.mu.Unlock()
			_ = json.NewEncoder(w).Encode(body)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error": "no such campaign", "kind": "not_found"}`)
		}
	}))
	t.Cleanup(campaigns.Close)
	_, prefix := testkit.Redis(t)
	cfg := app.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DatabaseURL = testkit.Database(t, migrations.FS)
	cfg.RedisURL, cfg.RedisPrefix = testkit.RedisURL(), prefix
	cfg.CampaignsURL = campaigns.URL
	cfg.ServiceKey = seed
	cfg.AdminEmail, cfg.AdminPassword = adminEmail, adminPassword
	cfg.SessionTTL = time.Hour
	cfg.SignInLimit = limit
	cfg.DevMode = true
	for _, f := range change {
		f(&cfg)
	}
	if cfg.ServiceKey != seed {
		// A change gave the console another key (a stand-in for delivery
		// that checks its own): the stand-in for campaigns trusts it.
		key, err := svcauth.ParsePrivateKey(cfg.ServiceKey)
		if err != nil {
			t.Fatal(err)
		}
		trusted, _ := svcauth.ParseTrusted("console=" + svcauth.PublicKey(key))
		if verifier, err = svcauth.NewVerifier("campaigns", trusted, time.Now); err != nil {
			t.Fatal(err)
		}
	}
	a, err := app.New(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), app.Options{Clock: c.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if !firstRun {
		if err := a.MarkSetupDone(context.Background(), "test"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console stopped with %v", err)
		}
	})
	c.App = a
	return c
}

// browser is an HTTP client with cookies that does not follow redirects,
// so tests see where they would go.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		return b.doRaw(method, path, "", header)
	}
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return b.doRaw(method, path, form.Encode(), h)
}

// doRaw sends body as it is, with header.
func (b *browser) doRaw(method, path, body string, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

var (
	signInToken = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	csrfMeta    = regexp.MustCompile(`name="csrf-token" content="([^"]+)"`)
	errorText   = regexp.MustCompile(`(?s)id="signin-error">([^<]*)<`)
)

// signIn posts the sign-in form and returns the status and the error
// shown, if any.
func (b *browser) signIn(email, password string) (int, string) {
	b.t.Helper()
	_, page := b.do("GET", "/signin", nil, nil)
	m := signInToken.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no csrf field on the sign-in page")
	}
	resp, page := b.do("POST", "/signin", url.Values{"csrf": {m[1]}, "email": {email}, "password": {password}}, nil)
	if resp.StatusCode == http.StatusSeeOther {
		_, home := b.do("GET", "/account", nil, nil)
		if m := csrfMeta.FindStringSubmatch(home); m != nil {
			b.csrf = m[1]
		}
		return resp.StatusCode, ""
	}
	msg := ""
	if m := errorText.FindStringSubmatch(page); m != nil {
		msg = m[1]
	}
	return resp.StatusCode, msg
}

func TestWrongPasswordAndUnknownAccountLookTheSame(t *testing.T) {
	c := startConsole(t, 100)
	b := newBrowser(t, c.URL())
	wrongCode, wrongMsg := b.signIn(adminEmail, "not the password at all")
	unknownCode, unknownMsg := b.signIn("nobody@muster.test", "not the password at all")
	if wrongCode != http.StatusUnauthorized || wrongCode != unknownCode || wrongMsg != unknownMsg || wrongMsg == "" {
		t.Fatalf("wrong password = %d %q, unknown account = %d %q; want the same 401", wrongCode, wrongMsg, unknownCode, unknownMsg)
	}
	if code, _ := b.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatalf("right password = %d, want 303", code)
	}
}

func TestSignInIsRateLimitedPerEmail(t *testing.T) {
	c := startConsole(t, 3)
	b := newBrowser(t, c.URL())
	for i := range 3 {
		if code, _ := b.signIn(adminEmail, "wrong password number "+string(rune('a'+i))); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d = %d, want 401", i+1, code)
		}
	}
	// Even the right password is refused once the limit is reached.
	if code, msg := b.signIn(adminEmail, adminPassword); code != http.StatusTooManyRequests || !strings.Contains(msg, "Too many") {
		t.Fatalf("fourth attempt = %d %q, want 429", code, msg)
	}
}

func TestRequestsWithoutASessionAreRefused(t *testing.T) {
	c := startConsole(t, 100)
	b := newBrowser(t, c.URL())
	resp, _ := b.do("GET", "/campaigns", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Errorf("page without session = %d to %q, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, body := b.do("GET", "/api/campaigns", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unauthorized") {
		t.Errorf("api without session = %d %s, want 401", resp.StatusCode, body)
	}
	resp, _ = b.do("GET", "/api/campaigns", nil, map[string]string{"Authorization": "Bearer mst_forged"})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("api with a forged token = %d, want 401", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/campaigns/c1/launch", url.Values{}, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(c.launches()) != 0 {
		t.Errorf("launch without session = %d (launches %v), want 401 and nothing launched", resp.StatusCode, c.launches())
	}
}

func TestForgedCSRFIsRefused(t *testing.T) {
	c := startConsole(t, 100)
	b := newBrowser(t, c.URL())
	if code, _ := b.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	for name, form := range map[string]url.Values{"missing": {}, "forged": {"csrf": {"forged-token"}}} {
		resp, _ := b.do("POST", "/campaigns/c1/launch", form, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s csrf = %d, want 403", name, resp.StatusCode)
		}
	}
	resp, _ := b.do("POST", "/api/campaigns/c1/launch", nil, map[string]string{"X-CSRF-Token": "forged"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("api with session and forged header = %d, want 403", resp.StatusCode)
	}
	if got := c.launches(); len(got) != 0 {
		t.Fatalf("forged requests launched %v", got)
	}
	resp, _ = b.do("POST", "/campaigns/c1/launch", url.Values{"csrf": {b.csrf}}, nil)
	if resp.StatusCode != http.StatusSeeOther || len(c.launches()) != 1 {
		t.Fatalf("launch with the right csrf = %d (launches %v)", resp.StatusCode, c.launches())
	}
	// The launch is in the audit log, with who did it.
	_, audit := b.do("GET", "/admin/audit", nil, nil)
	if !strings.Contains(audit, "campaign.launch") || !strings.Contains(audit, adminEmail) {
		t.Errorf("audit log does not show the launch:\n%s", audit)
	}
}

func TestExpiredSessionGoesBackToSignIn(t *testing.T) {
	c := startConsole(t, 100)
	b := newBrowser(t, c.URL())
	if code, _ := b.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	if resp, _ := b.do("GET", "/account", nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("account = %d", resp.StatusCode)
	}
	c.clock.Advance(2 * time.Hour)
	resp, _ := b.do("GET", "/account", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("expired session = %d to %q, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestViewerCannotLaunch(t *testing.T) {
	c := startConsole(t, 100)
	hash, err := account.HashPassword("viewer password 123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store().CreateOrganizer(context.Background(), account.Organizer{Email: "viewer@muster.test", Role: account.RoleViewer, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.URL())
	if code, _ := b.signIn("viewer@muster.test", "viewer password 123"); code != http.StatusSeeOther {
		t.Fatal("viewer sign in failed")
	}
	if resp, _ := b.do("GET", "/campaigns", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("viewer reading campaigns = %d, want 200", resp.StatusCode)
	}
	for _, path := range []string{"/campaigns/c1/launch", "/campaigns/c1/cancel"} {
		if resp, _ := b.do("POST", path, url.Values{"csrf": {b.csrf}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer POST %s = %d, want 403", path, resp.StatusCode)
		}
	}
	if resp, _ := b.do("POST", "/api/campaigns/c1/launch", nil, map[string]string{"X-CSRF-Token": b.csrf}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer api launch = %d, want 403", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/admin/audit", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer audit log = %d, want 403", resp.StatusCode)
	}
	if got := c.launches(); len(got) != 0 {
		t.Fatalf("viewer launched %v", got)
	}
}

func TestAPITokensCarryTheirRole(t *testing.T) {
	c := startConsole(t, 100)
	admin := newBrowser(t, c.URL())
	if code, _ := admin.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	token := func(role string) string {
		_, page := admin.do("POST", "/admin/tokens", url.Values{"csrf": {admin.csrf}, "name": {"bot " + role}, "role": {role}}, nil)
		m := regexp.MustCompile(`id="new-token">([^<]+)<`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no token shown:\n%s", page)
		}
		return m[1]
	}
	viewer, organizer := token("viewer"), token("organizer")
	api := newBrowser(t, c.URL())
	if resp, _ := api.do("POST", "/api/campaigns/c1/launch", nil, map[string]string{"Authorization": "Bearer " + viewer}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer token launch = %d, want 403", resp.StatusCode)
	}
	if resp, body := api.do("POST", "/api/campaigns/c1/launch", nil, map[string]string{"Authorization": "Bearer " + organizer}); resp.StatusCode != http.StatusAccepted {
		t.Errorf("organizer token launch = %d %s, want 202", resp.StatusCode, body)
	}
	if resp, _ := api.do("GET", "/api/campaigns", nil, map[string]string{"Authorization": "Bearer " + viewer}); resp.StatusCode != http.StatusOK {
		t.Errorf("viewer token list = %d, want 200", resp.StatusCode)
	}
	if got := c.launches(); len(got) != 1 {
		t.Fatalf("launches = %v, want one", got)
	}
	_, audit := admin.do("GET", "/admin/audit", nil, nil)
	if !strings.Contains(audit, "token bot organizer") {
		t.Errorf("the token's launch is not in the audit log")
	}
}
