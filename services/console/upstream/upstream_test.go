package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// TestEveryCallCarriesTheConsolesToken: plain calls, uploads and event
// streams (which use a client without a timeout) are all signed for the
// service called, and a refusal is the deployment's error, not the
// organizer's.
func TestEveryCallCarriesTheConsolesToken(t *testing.T) {
	seed, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := svcauth.ParsePrivateKey(seed)
	signer, _ := svcauth.NewSigner("console", key, time.Now)
	trusted, _ := svcauth.ParseTrusted("console=" + public)
	verifier, _ := svcauth.NewVerifier("contacts", trusted, time.Now)
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, err := verifier.Verify(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		if err != nil {
			web.WriteJSON(w, http.StatusUnauthorized, web.ErrorBody{Error: "service credentials not accepted", Kind: "unauthorized"})
			return
		}
		seen = append(seen, r.Method+" "+r.URL.Path+" "+caller)
		web.WriteJSON(w, http.StatusOK, map[string]string{})
	}))
	defer srv.Close()
	ctx := context.Background()

	c := New("contacts", srv.URL, 5*time.Second, signer)
	if err := c.JSON(ctx, "GET", "/contacts", nil, &map[string]string{}); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/imports", "/campaigns/x/results/stream"} {
		resp, err := c.Raw(ctx, "POST", path, strings.NewReader("a,b\n"), "text/csv")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if want := "GET /contacts console|POST /imports console|POST /campaigns/x/results/stream console"; strings.Join(seen, "|") != want {
		t.Errorf("calls seen = %q, want %q", seen, want)
	}

	// A token for contacts is refused by delivery, and the console says
	// what to fix, as an internal error.
	wrong := New("delivery", srv.URL, 5*time.Second, signer)
	err = wrong.JSON(ctx, "GET", "/messages", nil, nil)
	if err == nil || apperr.KindOf(err) != apperr.KindInternal || !strings.Contains(err.Error(), "DELIVERY_TRUSTED_CALLERS") {
		t.Errorf("refused call: err = %v (kind %v)", err, apperr.KindOf(err))
	}
}
