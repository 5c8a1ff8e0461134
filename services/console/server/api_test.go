package server

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/web"
)

// Under /api a path the API does not have is a 404 and a method a path
// does not take a 405 (with Allow), both in the one JSON error shape,
// whoever asks: neither needs credentials to be told, and neither says
// more than openapi.json does.
func TestAPINotFoundAndMethodNotAllowedAreJSON(t *testing.T) {
	s, err := New(Deps{Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Routes()
	cases := []struct {
		method, path string
		status       int
		kind, allow  string
	}{
		{"GET", "/api/nothing-here", 404, "not_found", ""},
		{"GET", "/api/campaigns/c1/nothing", 404, "not_found", ""},
		{"GET", "/api", 404, "not_found", ""},
		{"GET", "/api/", 404, "not_found", ""},
		{"POST", "/api/nothing-here", 404, "not_found", ""},
		{"DELETE", "/api/campaigns", 405, "method_not_allowed", "GET, POST"},
		{"GET", "/api/campaigns/c1/launch", 405, "method_not_allowed", "POST"},
		{"POST", "/api/openapi.json", 405, "method_not_allowed", "GET"},
		{"PUT", "/api/suppressions", 405, "method_not_allowed", "GET"},
		{"POST", "/api/settings", 405, "method_not_allowed", "GET, PUT"},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
		var body web.ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s %s = %d %q (%s), want JSON", c.method, c.path, w.Code, w.Body, w.Header().Get("Content-Type"))
			continue
		}
		if w.Code != c.status || body.Kind != c.kind || body.Error == "" {
			t.Errorf("%s %s = %d %+v, want %d %s", c.method, c.path, w.Code, body, c.status, c.kind)
		}
		if got := w.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
}

// A cursor goes back to the list that gave it out, and only to it; what
// does not decode is the caller's 400 on cursor, a limit out of range on
// limit.
func TestCursors(t *testing.T) {
	c := encodeCursor("messages", "0b3f-after")
	if pos, err := decodeCursor("messages", c); err != nil || pos != "0b3f-after" {
		t.Fatalf("round trip = %q, %v", pos, err)
	}
	if encodeCursor("messages", "") != "" {
		t.Error("the last page has a cursor")
	}
	for _, bad := range []string{encodeCursor("contacts", "x"), "not base64!", "e30", c + "x"} {
		if _, err := decodeCursor("messages", bad); err == nil || web.BodyOf(err).Field != "cursor" {
			t.Errorf("cursor %q = %v, want invalid on cursor", bad, err)
		}
	}
	for q, want := range map[string]string{"limit=0": "limit", "limit=501": "limit", "limit=x": "limit", "limit=500": "", "": ""} {
		_, limit, err := pageQuery(httptest.NewRequest("GET", "/api/messages?"+q, nil), "messages")
		if got := web.BodyOf(err).Field; (err == nil) != (want == "") || err != nil && got != want {
			t.Errorf("?%s = %d, %v; want an error on %q", q, limit, err, want)
		}
	}
}

// The message log never hands out a member's signed links.
func TestRedactLinks(t *testing.T) {
	for in, want := range map[string]string{
		"RSVP: https://m.example/rsvp/AbC-_123xyz Reply STOP to opt out": "RSVP: https://m.example/rsvp/… Reply STOP to opt out",
		"Sign: https://m.example/sign/AbC_-9. Thanks":                    "Sign: https://m.example/sign/…. Thanks",
		"Unsubscribe: https://d.example/unsubscribe?t=2.AbC%2Dx end":     "Unsubscribe: https://d.example/unsubscribe?t=… end",
		"two: /rsvp/aaa and /sign/bbb":                                   "two: /rsvp/… and /sign/…",
		"nothing to hide, /rsvp/ alone":                                  "nothing to hide, /rsvp/ alone",
	} {
		if got := redactLinks(in); got != want {
			t.Errorf("redactLinks(%q) = %q, want %q", in, got, want)
		}
	}
}
