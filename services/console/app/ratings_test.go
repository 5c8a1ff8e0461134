package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
)

// ratingContacts stands in for contacts: it records the ratings the
// console sends and answers them.
type ratingContacts struct {
	mu    sync.Mutex
	rated []map[string]any
}

func (s *ratingContacts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/rating"), r.Method == http.MethodPost && r.URL.Path == "/contacts/ratings":
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		s.mu.Lock()
		s.rated = append(s.rated, body)
		s.mu.Unlock()
		_, _ = io.WriteString(w, `{"rating": 2, "label": "2 · Supporter", "rated": 1, "ids": ["c1"]}`)
	default:
		http.NotFound(w, r)
	}
}

func (s *ratingContacts) sent() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.rated...)
}

// TestRatingNeedsAnOrganizer: an organizer rates one and many through
// the pages and the API, as themselves whatever the body says; a viewer
// is refused every way, and nothing reaches contacts.
func TestRatingNeedsAnOrganizer(t *testing.T) {
	svc := &ratingContacts{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL = stand.URL })
	b := signedIn(t, c)

	resp, _ := b.do("POST", "/contacts/c1/rating", url.Values{"csrf": {b.csrf}, "rating": {"2"}, "note": {"asked about dues"}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("rating from the member's page = %d", resp.StatusCode)
	}
	if code := b.apiJSON("PUT", "/api/contacts/c1/rating", "", map[string]any{"rating": 2, "by": "someone else"}, nil); code != http.StatusBadRequest {
		t.Errorf("a rating naming who rated = %d, want 400: who rated is the caller", code)
	}
	if code := b.apiJSON("PUT", "/api/contacts/c1/rating", "", map[string]any{"rating": 2}, nil); code != http.StatusOK {
		t.Fatalf("PUT /api/contacts/c1/rating = %d", code)
	}
	if code := b.apiJSON("POST", "/api/contacts/ratings", "", map[string]any{"rating": 2, "ids": []string{"c1"}}, nil); code != http.StatusOK {
		t.Fatalf("POST /api/contacts/ratings = %d", code)
	}
	sent := svc.sent()
	if len(sent) != 3 {
		t.Fatalf("contacts got %d ratings, want 3: %v", len(sent), sent)
	}
	for _, s := range sent {
		if by, _ := s["by"].(string); by == "" || by == "someone else" {
			t.Errorf("rated by %v, want the signed-in organizer", s["by"])
		}
	}
	if sent[0]["note"] != "asked about dues" {
		t.Errorf("the note was lost: %v", sent[0])
	}
	// A rating outside the scale is refused on the form, before contacts.
	resp, page := b.do("POST", "/contacts/ratings", url.Values{"csrf": {b.csrf}, "rating": {"6"}, "scope": {"selected"}, "id": {"c1"}}, nil)
	if resp.StatusCode == http.StatusOK || len(svc.sent()) != 3 {
		t.Errorf("a bulk rating of 6 = %d, contacts got %d", resp.StatusCode, len(svc.sent()))
	}
	_ = page

	hash, err := account.HashPassword("viewer password 123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store().CreateOrganizer(context.Background(), account.Organizer{Email: "viewer@muster.test", Role: account.RoleViewer, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	v := newBrowser(t, c.URL())
	if code, _ := v.signIn("viewer@muster.test", "viewer password 123"); code != http.StatusSeeOther {
		t.Fatal("viewer sign in failed")
	}
	if resp, _ := v.do("POST", "/contacts/c1/rating", url.Values{"csrf": {v.csrf}, "rating": {"2"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's rating from the page = %d, want 403", resp.StatusCode)
	}
	if resp, _ := v.do("POST", "/contacts/ratings", url.Values{"csrf": {v.csrf}, "rating": {"2"}, "scope": {"selected"}, "id": {"c1"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer's bulk rating = %d, want 403", resp.StatusCode)
	}
	if code := v.apiJSON("PUT", "/api/contacts/c1/rating", "", map[string]any{"rating": 2}, nil); code != http.StatusForbidden {
		t.Errorf("a viewer's PUT /api/contacts/c1/rating = %d, want 403", code)
	}
	if code := v.apiJSON("POST", "/api/contacts/ratings", "", map[string]any{"rating": 2, "ids": []string{"c1"}}, nil); code != http.StatusForbidden {
		t.Errorf("a viewer's POST /api/contacts/ratings = %d, want 403", code)
	}
	if n := len(svc.sent()); n != 3 {
		t.Errorf("contacts got %d ratings after the viewer's tries, want 3", n)
	}
}
