package app_test

import (
	"net/http"
	"net/url"
	"testing"
)

// After sign-in the console follows the form's next only to a path of its
// own: /signin?next=%2F%09%2Fevil.example once sent organizers off-site
// (browsers drop the tab and read //evil.example).
func TestSignInRedirectStaysOnSite(t *testing.T) {
	c := startConsole(t, 100)
	for next, want := range map[string]string{
		"/\t/evil.example":      "/",
		"/\\evil.example":       "/",
		"//evil.example":        "/",
		"https://evil.example/": "/",
		"/%2F/evil.example":     "/",
		"/campaigns?tab=live":   "/campaigns?tab=live",
	} {
		b := newBrowser(t, c.URL())
		_, page := b.do("GET", "/signin?next="+url.QueryEscape(next), nil, nil)
		m := signInToken.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no csrf field on the sign-in page")
		}
		resp, _ := b.do("POST", "/signin", url.Values{"csrf": {m[1]}, "email": {adminEmail}, "password": {adminPassword}, "next": {next}}, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("next %q: %d to %q, want 303 to %q", next, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}
