package unsubscribe

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap/zaptest"
)

type recorded struct{ subs []Subject }

func (r *recorded) Unsubscribe(_ context.Context, sub Subject, _ string) error {
	r.subs = append(r.subs, sub)
	return nil
}

// Every answer of the unsubscribe page, good link or bad, GET or POST,
// carries the member-page headers, and the page's style is the one the
// policy allows by hash.
func TestUnsubscribePagesSendSecurityHeaders(t *testing.T) {
	signer := NewSigner(keyring(t, newKey), "https://muster.example.org")
	unsub := &recorded{}
	r := chi.NewRouter()
	NewHandler(signer, unsub, func() string { return "Local 1199" }, zaptest.NewLogger(t)).Routes(r)
	good := Path + "?t=" + signer.Token(Subject{Address: "ana@example.org", MessageID: "m1"})
	sum := sha256.Sum256([]byte(pageStyle))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"

	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{http.MethodGet, good, http.StatusOK},
		{http.MethodPost, good, http.StatusOK},
		{http.MethodGet, Path + "?t=forged.token", http.StatusBadRequest},
		{http.MethodPost, Path + "?t=forged.token", http.StatusBadRequest},
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.target, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.target, rec.Code, tc.status)
		}
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "style-src " + hash, "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, d) {
				t.Errorf("%s %s: CSP %q lacks %q", tc.method, tc.target, csp, d)
			}
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s %s: headers %v", tc.method, tc.target, h)
		}
		if !strings.Contains(rec.Body.String(), "<style>"+pageStyle+"</style>") {
			t.Errorf("%s %s: the page's style is not the one the policy allows", tc.method, tc.target)
		}
	}
	if len(unsub.subs) != 1 {
		t.Errorf("unsubscribed %d times, want 1", len(unsub.subs))
	}
}
