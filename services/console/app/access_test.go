package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/console/app"
)

// apiJSON calls the JSON API with a Bearer token (or the browser's session
// and CSRF header when token is empty) and decodes the answer into out.
func (b *browser) apiJSON(method, path, token string, body any, out any) int {
	b.t.Helper()
	header := map[string]string{"Content-Type": "application/json", "Accept": "application/json"}
	if token != "" {
		header["Authorization"] = "Bearer " + token
	} else {
		header["X-CSRF-Token"] = b.csrf
	}
	req, _ := json.Marshal(body)
	resp, raw := b.doRaw(method, path, string(req), header)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			b.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

type tokenOut struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	RevokedAt *string   `json:"revoked_at"`
}

type organizerOut struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

var oneTimePassword = regexp.MustCompile(`id="one-time-password">([^<]+)<`)

// invite makes an account through the organizers page and returns its
// one-time password.
func invite(t *testing.T, admin *browser, email, role string) string {
	t.Helper()
	_, page := admin.do("POST", "/admin/organizers", url.Values{"csrf": {admin.csrf}, "email": {email}, "role": {role}}, nil)
	m := oneTimePassword.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no one-time password shown:\n%s", page)
	}
	return m[1]
}

// firstSignIn signs in on a one-time password and chooses a new one.
func firstSignIn(t *testing.T, c *console, email, password string) *browser {
	t.Helper()
	b := newBrowser(t, c.URL())
	if code, msg := b.signIn(email, password); code != http.StatusSeeOther {
		t.Fatalf("sign in as %s = %d %q", email, code, msg)
	}
	resp, _ := b.do("POST", "/account/password", url.Values{"csrf": {b.csrf}, "current": {password}, "new": {"a long new password 123"}, "confirm": {"a long new password 123"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change for %s = %d", email, resp.StatusCode)
	}
	return b
}

func TestBootstrapAdminMustChooseAPasswordOutsideDevelopmentMode(t *testing.T) {
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.DevMode = false })
	b := newBrowser(t, c.URL())
	if code, _ := b.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	if resp, _ := b.do("GET", "/campaigns", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account?first=1" {
		t.Fatalf("a page before the password change = %d to %q, want the account page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := b.apiJSON("GET", "/api/campaigns", "", nil, nil); code != http.StatusForbidden {
		t.Fatalf("the API before the password change = %d, want 403", code)
	}
	if code := b.apiJSON("POST", "/api/tokens", "", map[string]string{"name": "bot", "role": "admin"}, nil); code != http.StatusForbidden {
		t.Fatalf("making a token before the password change = %d, want 403", code)
	}
	resp, _ := b.do("POST", "/account/password", url.Values{"csrf": {b.csrf}, "current": {adminPassword}, "new": {"my own password 4567"}, "confirm": {"my own password 4567"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("password change = %d", resp.StatusCode)
	}
	if code := b.apiJSON("GET", "/api/campaigns", "", nil, nil); code != http.StatusOK {
		t.Fatalf("the API after the password change = %d, want 200", code)
	}
}

func TestDisablingOrDemotingAnOrganizerEndsTheirSessionsAndTokens(t *testing.T) {
	c := startConsole(t, 100)
	admin := signedIn(t, c)
	for _, change := range []struct {
		name string
		body map[string]any
	}{
		{"disabled", map[string]any{"disabled": true}},
		{"made viewer", map[string]any{"role": "viewer"}},
	} {
		t.Run(change.name, func(t *testing.T) {
			email := strings.ReplaceAll(change.name, " ", "-") + "@muster.test"
			leaver := firstSignIn(t, c, email, invite(t, admin, email, "admin"))
			var tok, child tokenOut
			if code := leaver.apiJSON("POST", "/api/tokens", "", map[string]string{"name": "their bot", "role": "admin"}, &tok); code != http.StatusCreated {
				t.Fatalf("token = %d", code)
			}
			// A token their token made ends with it.
			if code := leaver.apiJSON("POST", "/api/tokens", tok.Token, map[string]string{"name": "bot's bot", "role": "organizer"}, &child); code != http.StatusCreated {
				t.Fatalf("child token = %d", code)
			}
			var list struct{ Organizers []organizerOut }
			admin.apiJSON("GET", "/api/organizers", "", nil, &list)
			id := ""
			for _, o := range list.Organizers {
				if o.Email == email {
					id = o.ID
				}
			}
			var got organizerOut
			if code := admin.apiJSON("PATCH", "/api/organizers/"+id, "", change.body, &got); code != http.StatusOK {
				t.Fatalf("access change = %d", code)
			}
			if resp, _ := leaver.do("GET", "/campaigns", nil, nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
				t.Errorf("their session after the change = %d to %q, want sign in again", resp.StatusCode, resp.Header.Get("Location"))
			}
			for _, k := range []string{tok.Token, child.Token} {
				if code := newBrowser(t, c.URL()).apiJSON("GET", "/api/campaigns", k, nil, nil); code != http.StatusUnauthorized {
					t.Errorf("their token after the change = %d, want 401", code)
				}
			}
			code, _ := newBrowser(t, c.URL()).signIn(email, "a long new password 123")
			if change.body["disabled"] == true && code != http.StatusUnauthorized {
				t.Errorf("a disabled organizer signing in = %d, want 401", code)
			}
			if change.body["role"] == "viewer" && code != http.StatusSeeOther {
				t.Errorf("a demoted organizer signing in = %d, want 303", code)
			}
		})
	}
}

func TestTheLastAdminCannotBeDisabled(t *testing.T) {
	c := startConsole(t, 100)
	admin := signedIn(t, c)
	var list struct{ Organizers []organizerOut }
	admin.apiJSON("GET", "/api/organizers", "", nil, &list)
	if code := admin.apiJSON("PATCH", "/api/organizers/"+list.Organizers[0].ID, "", map[string]any{"role": "organizer"}, nil); code != http.StatusConflict {
		t.Fatalf("demoting the only admin = %d, want 409", code)
	}
	if code := admin.apiJSON("GET", "/api/organizers", "", nil, nil); code != http.StatusOK {
		t.Fatalf("the admin's session after the refused change = %d, want it kept", code)
	}
}

func TestAPITokensExpireAndNeverOutgrowTheirMaker(t *testing.T) {
	c := startConsole(t, 100)
	admin := signedIn(t, c)
	var def, short tokenOut
	if code := admin.apiJSON("POST", "/api/tokens", "", map[string]string{"name": "default", "role": "admin"}, &def); code != http.StatusCreated {
		t.Fatalf("token = %d", code)
	}
	if d := def.ExpiresAt.Sub(c.clock.Now()) - 90*24*time.Hour; d > time.Hour || d < -time.Hour {
		t.Errorf("a default token expires %s, want 90 days on", def.ExpiresAt)
	}
	if code := admin.apiJSON("POST", "/api/tokens", "", map[string]any{"name": "short", "role": "organizer", "ttl_days": 1}, &short); code != http.StatusCreated {
		t.Fatalf("one-day token = %d", code)
	}
	// A token made by a token lasts no longer than the token that made
	// it, and is revoked with it.
	var parent, child tokenOut
	admin.apiJSON("POST", "/api/tokens", "", map[string]any{"name": "parent", "role": "admin", "ttl_days": 2}, &parent)
	if code := admin.apiJSON("POST", "/api/tokens", parent.Token, map[string]any{"name": "child", "role": "admin", "ttl_days": 300}, &child); code != http.StatusCreated {
		t.Fatalf("child token = %d", code)
	}
	if child.ExpiresAt.After(parent.ExpiresAt) {
		t.Errorf("child expires %s, after its parent %s", child.ExpiresAt, parent.ExpiresAt)
	}
	if code := admin.apiJSON("POST", "/api/tokens/"+parent.ID+"/revoke", "", nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke = %d", code)
	}
	if code := newBrowser(t, c.URL()).apiJSON("GET", "/api/campaigns", child.Token, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the child of a revoked token = %d, want 401", code)
	}
	// An organizer's token cannot make tokens at all; a viewer's session
	// cannot make an admin's.
	if code := newBrowser(t, c.URL()).apiJSON("POST", "/api/tokens", short.Token, map[string]string{"name": "more", "role": "organizer"}, nil); code != http.StatusForbidden {
		t.Errorf("an organizer token making a token = %d, want 403", code)
	}
	api := newBrowser(t, c.URL())
	if code := api.apiJSON("GET", "/api/campaigns", short.Token, nil, nil); code != http.StatusOK {
		t.Fatalf("one-day token today = %d, want 200", code)
	}
	c.clock.Advance(25 * time.Hour)
	if code := api.apiJSON("GET", "/api/campaigns", short.Token, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("one-day token a day later = %d, want 401", code)
	}
	if code := api.apiJSON("GET", "/api/campaigns", def.Token, nil, nil); code != http.StatusOK {
		t.Errorf("90-day token a day later = %d, want 200", code)
	}
}

// Live result streams are bounded per organizer: one more than allowed is
// refused with 429 until one closes.
func TestLiveStreamsAreLimitedPerOrganizer(t *testing.T) {
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.StreamsPerOrganizer = 1 })
	admin := signedIn(t, c)
	first, err := http.NewRequest("GET", c.URL()+"/campaigns/c1/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := admin.hc.Do(first.WithContext(ctx))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("first stream = %v, %v", resp, err)
	}
	if _, err := resp.Body.Read(make([]byte, 16)); err != nil {
		t.Fatalf("reading the first stream: %v", err)
	}
	if resp, _ := admin.do("GET", "/campaigns/c1/stream", nil, nil); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second stream = %d, want 429", resp.StatusCode)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx2, cancel2 := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx2, "GET", c.URL()+"/campaigns/c1/stream", nil)
		resp, err := admin.hc.Do(req)
		ok := err == nil && resp.StatusCode == http.StatusOK
		if resp != nil {
			resp.Body.Close()
		}
		cancel2()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no stream allowed after the first closed: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The console tells browsers to keep to https once they reached it over
// https (directly or through a proxy that says so), and not over http.
func TestHSTSOnlyOverHTTPS(t *testing.T) {
	c := startConsole(t, 100)
	b := newBrowser(t, c.URL())
	resp, _ := b.do("GET", "/signin", nil, map[string]string{"X-Forwarded-Proto": "https"})
	if got := resp.Header.Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=") {
		t.Errorf("over https: Strict-Transport-Security = %q", got)
	}
	resp, _ = b.do("GET", "/signin", nil, nil)
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("over http: Strict-Transport-Security = %q, want none", got)
	}
}
