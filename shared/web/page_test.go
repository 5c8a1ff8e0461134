package web

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMemberPagesHeaders(t *testing.T) {
	page := MemberPages("body{color:#000}")(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte("<!doctype html><style>body{color:#000}</style>"))
	}))
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/unsubscribe?t=x", nil))
	want := map[string]string{
		// sha256 of "body{color:#000}" (openssl dgst -sha256 -binary | base64).
		"Content-Security-Policy": "default-src 'none'; style-src 'sha256-+vposV7h/pETDdwoYAE8ZEuY6gy8+gFf4iYwZuorLEk='; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS over plain HTTP = %q, want none", got)
	}

	req := httptest.NewRequest(http.MethodGet, "/unsubscribe?t=x", nil)
	req.TLS = &tls.ConnectionState{}
	req.Header.Set("X-Forwarded-Proto", "http")
	rec = httptest.NewRecorder()
	page.ServeHTTP(rec, req)
	if got := rec.Header().Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("HSTS over TLS = %q", got)
	}

	// A forged X-Forwarded-Proto does not turn HSTS on.
	req = httptest.NewRequest(http.MethodGet, "/unsubscribe?t=x", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	rec = httptest.NewRecorder()
	page.ServeHTTP(rec, req)
	if got := rec.Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS on a forwarded header = %q", got)
	}

	if got := memberPagePolicy(nil); got != "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("policy without styles = %q", got)
	}
}
