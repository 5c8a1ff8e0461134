package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// The JSON API bounds every body, an API token's included: a body over
// 1 MiB is answered 413 in the JSON error shape and never reaches the
// service.
func TestTooLargeAPIBodyIs413(t *testing.T) {
	c := startConsole(t, 100)
	admin := newBrowser(t, c.URL())
	if code, _ := admin.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	_, page := admin.do("POST", "/admin/tokens", url.Values{"csrf": {admin.csrf}, "name": {"bot"}, "role": {"organizer"}}, nil)
	m := regexp.MustCompile(`id="new-token">([^<]+)<`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no token shown:\n%s", page)
	}
	huge := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
	for _, who := range []struct {
		name   string
		header map[string]string
	}{
		{"API token", map[string]string{"Authorization": "Bearer " + m[1]}},
		{"session", map[string]string{"X-CSRF-Token": admin.csrf}},
	} {
		b := admin
		if who.name == "API token" {
			b = newBrowser(t, c.URL())
		}
		req, _ := http.NewRequest("POST", c.URL()+"/api/campaigns", strings.NewReader(huge))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range who.header {
			req.Header.Set(k, v)
		}
		resp, err := b.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb struct{ Error, Kind, Field string }
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || err != nil || eb.Kind != "too_large" || eb.Field != "body" {
			t.Errorf("%s: %d %+v (%v), want 413 too_large", who.name, resp.StatusCode, eb, err)
		}
	}
	if n := len(c.creates()); n != 0 {
		t.Errorf("%d oversized campaigns reached the service", n)
	}
}
