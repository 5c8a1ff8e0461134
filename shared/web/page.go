package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// MemberPages is middleware for the pages members open from a link in a
// text or email (unsubscribe, RSVP, sign). Those pages carry a signed
// token in their URL and show personal data, and run no script, so they
// get the strictest policy a browser understands:
//
//   - Content-Security-Policy: nothing may load (default-src 'none') but
//     the page's own inline styles, named by hash; forms post only to this
//     origin; no site may frame the page; no <base> may move its links.
//   - X-Content-Type-Options: nosniff, X-Frame-Options: DENY (for
//     browsers without frame-ancestors).
//   - Referrer-Policy: no-referrer, so the token never leaves in a
//     Referer header.
//   - Cache-Control: no-store, so no shared cache keeps a member's page.
//   - Strict-Transport-Security when the request came over TLS. No
//     service has a notion of trusted proxies, so X-Forwarded-Proto is not
//     believed: behind a TLS-terminating ingress, the ingress sends HSTS.
//
// styles are the exact texts of the pages' inline <style> elements.
func MemberPages(styles ...string) func(http.Handler) http.Handler {
	csp := memberPagePolicy(styles)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-store")
			if r.TLS != nil {
				// A year, this host only: the union's other hosts are not
				// this service's to commit to HTTPS.
				h.Set("Strict-Transport-Security", "max-age=31536000")
			}
			next.ServeHTTP(w, r)
		})
	}
}

func memberPagePolicy(styles []string) string {
	directives := []string{"default-src 'none'"}
	if len(styles) > 0 {
		src := make([]string, len(styles))
		for i, s := range styles {
			sum := sha256.Sum256([]byte(s))
			src[i] = "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		}
		directives = append(directives, "style-src "+strings.Join(src, " "))
	}
	directives = append(directives, "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'")
	return strings.Join(directives, "; ")
}
