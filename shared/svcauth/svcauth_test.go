package svcauth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/web"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newKey(t *testing.T) (ed25519.PrivateKey, string) {
	t.Helper()
	seed, pub, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ParsePrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	if PublicKey(key) != pub {
		t.Fatalf("public key of the parsed seed = %s, want %s", PublicKey(key), pub)
	}
	return key, pub
}

func mustSigner(t *testing.T, name string, key ed25519.PrivateKey, now func() time.Time) *Signer {
	t.Helper()
	s, err := NewSigner(name, key, now)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVerifier(t *testing.T, name, trusted string, now func() time.Time) *Verifier {
	t.Helper()
	tr, err := ParseTrusted(trusted)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(name, tr, now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// forge signs arbitrary claims with key, for the cases a Signer never
// makes.
func forge(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	start := time.Date(2026, 3, 8, 6, 59, 0, 0, time.UTC)
	clk := &clock{t: start}
	key, pub := newKey(t)
	otherKey, otherPub := newKey(t)
	v := mustVerifier(t, "contacts", "console="+pub+",operator="+otherPub, clk.Now)
	console := mustSigner(t, "console", key, clk.Now)
	good, err := console.Token("contacts")
	if err != nil {
		t.Fatal(err)
	}
	claims := func(over map[string]any) jwt.MapClaims {
		c := jwt.MapClaims{"iss": "console", "aud": []string{"contacts"}, "iat": start.Unix(), "exp": start.Add(TTL).Unix()}
		for k, v := range over {
			if v == nil {
				delete(c, k)
				continue
			}
			c[k] = v
		}
		return c
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"contacts"`, `"delivery"`, 1))) + "." + parts[2]
	flipped := []byte(parts[2])
	flipped[3] ^= 1
	badSig := parts[0] + "." + parts[1] + "." + string(flipped)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	hmac := forge(t, jwt.SigningMethodHS256, []byte(pub), claims(nil))

	cases := []struct {
		name  string
		token string
		at    time.Duration // clock moved from start before verifying
		want  error
	}{
		{"valid", good, 0, nil},
		{"valid near expiry, within leeway", good, TTL + Leeway - time.Second, nil},
		{"expired beyond leeway", good, TTL + Leeway + time.Second, ErrBadToken},
		{"verifier's clock behind by less than leeway", good, -Leeway + time.Second, nil},
		{"issued in the future beyond leeway", good, -Leeway - time.Second, ErrBadToken},
		{"empty", "", 0, ErrNoToken},
		{"garbage", "not-a-token", 0, ErrBadToken},
		{"payload tampered", tampered, 0, ErrBadToken},
		{"signature tampered", badSig, 0, ErrBadToken},
		{"alg none", none, 0, ErrBadToken},
		{"HMAC keyed with the public key", hmac, 0, ErrBadToken},
		{"wrong audience", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"aud": []string{"delivery"}})), 0, ErrBadToken},
		{"two audiences", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"aud": []string{"contacts", "delivery"}})), 0, ErrBadToken},
		{"no audience", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"aud": nil})), 0, ErrBadToken},
		{"untrusted issuer", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"iss": "intruder"})), 0, ErrUntrusted},
		{"trusted name, another's key", forge(t, jwt.SigningMethodEdDSA, otherKey, claims(nil)), 0, ErrBadToken},
		{"no expiry", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"exp": nil})), 0, ErrBadToken},
		{"no issued-at", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"iat": nil})), 0, ErrBadToken},
		{"lives an hour", forge(t, jwt.SigningMethodEdDSA, key, claims(map[string]any{"exp": start.Add(time.Hour).Unix()})), 0, ErrTooLongLife},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk.t = start.Add(c.at)
			caller, err := v.Verify(c.token)
			if c.want == nil {
				if err != nil || caller != "console" {
					t.Fatalf("Verify = %q, %v; want console", caller, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify = %q, %v; want %v", caller, err, c.want)
			}
		})
	}
}

func TestRotationAcceptsBothKeys(t *testing.T) {
	clk := &clock{t: time.Now()}
	oldKey, oldPub := newKey(t)
	newK, newPub := newKey(t)
	v := mustVerifier(t, "delivery", "console="+oldPub+"|"+newPub, clk.Now)
	for name, key := range map[string]ed25519.PrivateKey{"old": oldKey, "new": newK} {
		tok, err := mustSigner(t, "console", key, clk.Now).Token("delivery")
		if err != nil {
			t.Fatal(err)
		}
		if caller, err := v.Verify(tok); err != nil || caller != "console" {
			t.Errorf("%s key: Verify = %q, %v", name, caller, err)
		}
	}
	// Once the old key is dropped, its tokens are refused.
	after := mustVerifier(t, "delivery", "console="+newPub, clk.Now)
	tok, _ := mustSigner(t, "console", oldKey, clk.Now).Token("delivery")
	if _, err := after.Verify(tok); !errors.Is(err, ErrBadToken) {
		t.Errorf("retired key: err = %v, want bad token", err)
	}
}

func TestSignerCachesAndRefreshes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	key, pub := newKey(t)
	s := mustSigner(t, "console", key, clk.Now)
	v := mustVerifier(t, "campaigns", "console="+pub, clk.Now)
	first, _ := s.Token("campaigns")
	clk.t = clk.t.Add(TTL/2 - time.Second)
	if again, _ := s.Token("campaigns"); again != first {
		t.Error("token not reused within half its life")
	}
	if other, _ := s.Token("delivery"); other == first {
		t.Error("one token for two audiences")
	}
	clk.t = clk.t.Add(2 * time.Second)
	second, _ := s.Token("campaigns")
	if second == first {
		t.Error("token not refreshed after half its life")
	}
	// The refreshed token outlives the first.
	clk.t = clk.t.Add(TTL/2 + Leeway + time.Second)
	if _, err := v.Verify(first); err == nil {
		t.Error("first token still valid past its expiry")
	}
	if _, err := v.Verify(second); err != nil {
		t.Errorf("refreshed token: %v", err)
	}
	// A clock set back gets a token it can use, not one from its future.
	clk.t = clk.t.Add(-time.Hour)
	back, _ := s.Token("campaigns")
	if _, err := v.Verify(back); err != nil {
		t.Errorf("after the clock went back: %v", err)
	}
}

func TestParseTrusted(t *testing.T) {
	_, pub := newKey(t)
	_, pub2 := newKey(t)
	good := []string{
		"",
		"console=" + pub,
		" console = " + pub + " , operator=" + pub2 + "|" + pub,
		"console=" + strings.TrimRight(pub, "="),
	}
	for _, s := range good {
		if _, err := ParseTrusted(s); err != nil {
			t.Errorf("ParseTrusted(%q) = %v", s, err)
		}
	}
	tr, _ := ParseTrusted("operator=" + pub2 + "|" + pub + ",console=" + pub)
	if got, want := tr.String(), "console="+pub+",operator="+pub2+"|"+pub; got != want {
		t.Errorf("String = %s, want %s", got, want)
	}
	bad := map[string]string{
		"no key":          "console",
		"empty key":       "console=",
		"not base64":      "console=!!!",
		"short key":       "console=" + base64.StdEncoding.EncodeToString([]byte("short")),
		"bad name":        "Console=" + pub,
		"listed twice":    "console=" + pub + ",console=" + pub2,
		"empty rotation":  "console=" + pub + "|",
		"name with space": "the console=" + pub,
	}
	for name, s := range bad {
		if _, err := ParseTrusted(s); err == nil {
			t.Errorf("%s: ParseTrusted(%q) accepted", name, s)
		}
	}
}

func TestParsePrivateKeyNeverQuotesTheSecret(t *testing.T) {
	secret := "this-is-secret-but-not-a-key"
	_, err := ParsePrivateKey(secret)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("err = %v", err)
	}
	_, err = ParsePrivateKey(base64.StdEncoding.EncodeToString([]byte("sixteen bytes!!!")))
	if err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("short seed: err = %v", err)
	}
}

func TestTransportAddsTokenAndLeavesRequestAlone(t *testing.T) {
	key, pub := newKey(t)
	v := mustVerifier(t, "contacts", "console="+pub, time.Now)
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := bearer(r)
		got, _ = v.Verify(tok)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: mustSigner(t, "console", key, time.Now).Transport("contacts", nil)}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != "console" {
		t.Errorf("server saw caller %q", got)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("transport changed the caller's request")
	}
}

func TestGuard(t *testing.T) {
	key, pub := newKey(t)
	v := mustVerifier(t, "delivery", "console="+pub, time.Now)
	guard := NewGuard(v, zap.NewNop()).WithMetricsToken("scrape-token-0123456789abcdef0123456789")
	r := chi.NewRouter()
	var seen string
	ok := func(w http.ResponseWriter, r *http.Request) {
		seen = Caller(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}
	r.Get("/messages", ok)
	r.Get("/unsubscribe", ok)
	r.Post("/unsubscribe", ok)
	r.Get("/pages/{token}", ok)
	root := chi.NewRouter()
	root.Handle("/metrics", guard.Metrics(http.HandlerFunc(ok)))
	// Routes added after the guard is built are guarded too.
	root.Mount("/", guard.Protect(r, []Route{{"GET", "/unsubscribe"}, {"GET", "/pages/{token}"}}))
	r.Delete("/messages", ok)
	tok, _ := mustSigner(t, "console", key, time.Now).Token("delivery")

	cases := []struct {
		method, path, auth string
		want               int
		caller             string
	}{
		{"GET", "/messages", "", 401, ""},
		{"GET", "/messages", "Bearer " + tok, 204, "console"},
		{"GET", "/messages", "bearer " + tok, 204, "console"},
		{"GET", "/messages", "Basic " + tok, 401, ""},
		{"DELETE", "/messages", "", 401, ""},
		{"GET", "/unsubscribe", "", 204, ""},
		{"POST", "/unsubscribe", "", 401, ""},
		{"GET", "/pages/abc", "", 204, ""},
		{"GET", "/pages/abc/more", "", 401, ""},
		{"GET", "/no-such-route", "", 401, ""},
		{"GET", "/no-such-route", "Bearer " + tok, 404, ""},
		{"PUT", "/unsubscribe", "", 401, ""},
		{"GET", "/metrics", "", 401, ""},
		{"GET", "/metrics", "Bearer " + tok, 204, "console"},
		{"GET", "/metrics", "Bearer scrape-token-0123456789abcdef0123456789", 204, ""},
		{"GET", "/messages", "Bearer scrape-token-0123456789abcdef0123456789", 401, ""},
	}
	for _, c := range cases {
		seen = ""
		req := httptest.NewRequest(c.method, c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		root.ServeHTTP(w, req)
		if w.Code != c.want || seen != c.caller {
			t.Errorf("%s %s (%.12s) = %d caller %q; want %d caller %q", c.method, c.path, c.auth, w.Code, seen, c.want, c.caller)
			continue
		}
		if w.Code == 401 {
			var body web.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Kind != "unauthorized" || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: 401 body %q (%s), want the JSON error shape", c.method, c.path, w.Body, w.Header().Get("Content-Type"))
			}
		}
	}
}
