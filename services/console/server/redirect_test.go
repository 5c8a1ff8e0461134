package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// safeNext must never send an organizer off-site after sign-in, however
// the target is dressed up; the value is what r.URL.Query().Get("next")
// or the form field gives, decoded once already.
func TestSafeNextRefusesOffSiteTargets(t *testing.T) {
	hostile := []string{
		"",
		"/\t/evil.example",            // ?next=%2F%09%2Fevil.example: browsers drop the tab
		"\t//evil.example",            // leading tab
		"/\n/evil.example",            // newline
		"/\r/evil.example",            // carriage return
		"/\x00/evil.example",          // NUL
		"/\x7f/evil.example",          // DEL
		"/\u0085/evil.example",        // C1 next line
		"//evil.example",              // scheme-relative
		"///evil.example",             // more slashes
		"/\\evil.example",             // ?next=%2F%5Cevil.example: a backslash reads as a slash
		"/\\/evil.example",            //
		"\\\\evil.example",            //
		"/foo\\..\\..\\/evil.example", // a backslash anywhere
		"https://evil.example",        //
		"https:evil.example",          // scheme, no slashes
		"http://evil.example/",        //
		"HTTPS://evil.example",        //
		"javascript:alert(1)",         //
		"JaVaScRiPt:alert(1)",         //
		" javascript:alert(1)",        // leading space
		"data:text/html,<script>x</script>",
		"evil.example",                     // relative, not a path
		"./evil",                           //
		"%2F%2Fevil.example",               // double-encoded //
		"/%2F/evil.example",                // decodes to ///evil.example
		"/%2f%2fevil.example",              // lower-case escape of the same
		"/%5Cevil.example",                 // decodes to /\evil.example
		"/%09/evil.example",                // decodes to a tab
		"/%0d%0aLocation:%20//evil",        // decodes to CR LF
		"/%zz",                             // not a valid escape
		"//user@evil.example/",             //
		"/" + strings.Repeat("a", maxNext), // too long
	}
	for _, next := range hostile {
		if got := safeNext(next); got != "/" {
			t.Errorf("safeNext(%q) = %q, want /", next, got)
		}
	}
	good := []string{
		"/",
		"/campaigns",
		"/campaigns/0b6f0c1e-2c1a-4b59-9d6e-9c5b8b3e6c11?tab=results",
		"/contacts?tag=north%20clinic&q=ana",
		"/inbox#latest",
		"/javascript:alert(1)", // a path on this site, harmless
	}
	for _, next := range good {
		if got := safeNext(next); got != next {
			t.Errorf("safeNext(%q) = %q, want it kept", next, got)
		}
	}
}

// The sign-in page carries only a safe target into its form, whatever the
// query string says.
func TestSignInPageCarriesOnlySafeNext(t *testing.T) {
	s, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for raw, want := range map[string]string{
		"next=%2F%09%2Fevil.example": `value="/"`,
		"next=%2F%5Cevil.example":    `value="/"`,
		"next=%2Fcampaigns":          `value="/campaigns"`,
	} {
		rec := httptest.NewRecorder()
		s.signInPage(rec, httptest.NewRequest(http.MethodGet, "/signin?"+raw, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", raw, rec.Code)
		}
		body := rec.Body.String()
		i := strings.Index(body, `name="next"`)
		if i < 0 {
			t.Fatalf("%s: no next field in the form", raw)
		}
		field := body[max(0, i-200):min(len(body), i+200)]
		if !strings.Contains(field, want) {
			t.Errorf("%s: next field %q, want %s", raw, field, want)
		}
		if q, _ := url.ParseQuery(raw); strings.Contains(field, "evil") {
			t.Errorf("%s (%q) leaked into the form: %q", raw, q.Get("next"), field)
		}
	}
}
