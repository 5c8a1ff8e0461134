package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
	"github.com/musterhq/muster/services/console/server"
	"github.com/musterhq/muster/shared/web"
)

// services stands in for contacts, campaigns and delivery at once: it
// answers every request the way the console expects a service to (JSON,
// a CSV, an event stream, an accepted import) and counts what reached it.
type services struct {
	mu    sync.Mutex
	calls []string
}

func (s *services) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls = append(s.calls, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, ".csv") || r.URL.Query().Get("format") == "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		_, _ = io.WriteString(w, "line,column,reason\n2,phone,not a phone number\n")
	case strings.HasSuffix(p, "/results/stream"):
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: results\ndata: {}\n\n")
	case r.Method == http.MethodPost && p == "/imports":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"id": "i1", "state": "queued", "source": "walk.csv"}`)
	case r.Method == http.MethodPost && (p == "/campaigns" || p == "/contacts"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id": "x1"}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}
}

func (s *services) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *services) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// documentedOp is what the route walk reads of an operation in
// openapi.json: who may call it, whether it is audited, and an example
// body to send.
type documentedOp struct {
	Role        string `json:"x-role"`
	Steward     bool   `json:"x-steward"`
	Audited     bool   `json:"x-audited"`
	RequestBody *struct {
		Content map[string]struct {
			Example any `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
}

func documentedOps(t *testing.T) map[string]documentedOp {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(server.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	ops := map[string]documentedOp{}
	for path, methods := range doc.Paths {
		for method, raw := range methods {
			if method == "parameters" {
				continue
			}
			var op documentedOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatal(err)
			}
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	return ops
}

// exampleBody is an operation's documented example request, JSON first.
func (op documentedOp) exampleBody(t *testing.T) (string, string) {
	if op.RequestBody == nil {
		return "", ""
	}
	for _, ct := range []string{"application/json", "text/csv"} {
		c, ok := op.RequestBody.Content[ct]
		if !ok {
			continue
		}
		if s, ok := c.Example.(string); ok && ct != "application/json" {
			return ct, s
		}
		b, err := json.Marshal(c.Example)
		if err != nil {
			t.Fatal(err)
		}
		return ct, string(b)
	}
	return "", ""
}

// TestEveryAPIRouteChecksItsRole walks every /api route the router has
// and, for each, the role openapi.json gives it: without credentials it
// is a 401, with each smaller role a 403 (both in the JSON error shape,
// and neither reaches a service), and with the role it reaches the
// service (or the console's own store) and, when documented as audited,
// leaves exactly one audit entry. A new route without a documented role
// fails here, and so does a route whose role in the router and in the
// document differ.
func TestEveryAPIRouteChecksItsRole(t *testing.T) {
	svc := &services{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) {
		cfg.ContactsURL, cfg.CampaignsURL, cfg.DeliveryURL = stand.URL, stand.URL, stand.URL
	})
	ctx := context.Background()
	admin, err := c.DevAdminToken(ctx, "route walk", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.URL())
	tokens := map[string]string{"admin": admin}
	for _, role := range []string{"viewer", "steward", "organizer"} {
		var out tokenOut
		if code := b.apiJSON("POST", "/api/tokens", admin, map[string]any{"name": "walk " + role, "role": role}, &out); code != http.StatusCreated {
			t.Fatalf("making a %s token = %d", role, code)
		}
		tokens[role] = out.Token
	}
	// Who is refused each x-role. A steward stands outside the order:
	// refused everything but x-role steward and x-steward operations.
	smaller := map[string][]string{"viewer": {"steward"}, "steward": {"viewer"}, "organizer": {"viewer", "steward"}, "admin": {"viewer", "steward", "organizer"}}

	send := func(method, path, ct, body, token string) (int, string) {
		header := map[string]string{"Accept": "application/json"}
		if ct != "" {
			header["Content-Type"] = ct
		}
		if token != "" {
			header["Authorization"] = "Bearer " + token
		}
		resp, raw := b.doRaw(method, path, body, header)
		return resp.StatusCode, raw
	}
	lastAudit := func() int64 {
		list, err := c.Store().AuditLog(ctx, 1)
		if err != nil || len(list) == 0 {
			t.Fatalf("audit log: %v", err)
		}
		return list[0].ID
	}
	auditedSince := func(id int64) int {
		list, err := c.Store().AuditLog(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range list {
			if e.ID > id {
				n++
			}
		}
		return n
	}

	ops := documentedOps(t)
	s, err := server.New(server.Deps{Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{\w+\}`)
	walked := 0
	err = chi.Walk(s.Routes().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		if !strings.HasPrefix(route, "/api/") {
			return nil
		}
		name := method + " " + route
		op, ok := ops[name]
		if !ok {
			t.Errorf("%s has no operation in openapi.json", name)
			return nil
		}
		if op.Role == "" {
			return nil // openapi.json itself
		}
		walked++
		path := param.ReplaceAllString(route, "x1")
		ct, body := op.exampleBody(t)
		ownStore := strings.HasPrefix(route, "/api/organizers") || strings.HasPrefix(route, "/api/tokens") || strings.HasPrefix(route, "/api/saved-replies") ||
			route == "/api/assignees" || route == "/api/reply-deadline"
		t.Run(name, func(t *testing.T) {
			before := svc.count()
			turnedAway := func(who string, code int, raw, kind string) {
				t.Helper()
				var e web.ErrorBody
				if err := json.Unmarshal([]byte(raw), &e); err != nil || e.Kind != kind {
					t.Errorf("%s: %d %q, want the JSON error shape with kind %s", who, code, raw, kind)
				}
				if n := svc.count(); n != before {
					t.Errorf("%s reached a service", who)
				}
			}
			if code, raw := send(method, path, ct, body, ""); code != http.StatusUnauthorized {
				t.Errorf("no credentials = %d %s, want 401", code, raw)
			} else {
				turnedAway("no credentials", code, raw, "unauthorized")
			}
			for _, role := range smaller[op.Role] {
				if role == "steward" && op.Steward {
					// Open to stewards, narrowed to their own members: a
					// steward token is nobody's assignee, so it sees none.
					if code, raw := send(method, path, ct, body, tokens[role]); code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
						t.Errorf("steward token on an x-steward route = %d %s, want it let in", code, raw)
					}
					before = svc.count()
					continue
				}
				if code, raw := send(method, path, ct, body, tokens[role]); code != http.StatusForbidden {
					t.Errorf("%s token = %d %s, want 403", role, code, raw)
				} else {
					turnedAway(role+" token", code, raw, "forbidden")
				}
			}
			who := op.Role
			if who == "steward" {
				// A steward is let in, then finds no member of theirs (a
				// token is nobody's assignee); an organizer reaches the
				// service.
				if code, raw := send(method, path, ct, body, tokens["steward"]); code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
					t.Errorf("steward token = %d %s, want it let in", code, raw)
				}
				before, who = svc.count(), "organizer"
			}
			mark := lastAudit()
			code, raw := send(method, path, ct, body, tokens[who])
			switch {
			case ownStore:
				// The console's own accounts, tokens and saved replies: x1 names none,
				// so a 404 shows the handler ran.
				if code == http.StatusUnauthorized || code == http.StatusForbidden || code >= 500 {
					t.Errorf("%s token = %d %s, want the handler's answer", who, code, raw)
				}
			case code/100 != 2:
				t.Errorf("%s token = %d %s, want it passed to the service", who, code, raw)
			case svc.count() == before:
				t.Errorf("%s token got %d without reaching a service", who, code)
			}
			want := 0
			if op.Audited && code/100 == 2 {
				want = 1
			}
			if got := auditedSince(mark); got != want {
				t.Errorf("%s token = %d left %d audit entries, want %d (x-audited %v)", who, code, got, want, op.Audited)
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if walked < 50 {
		t.Fatalf("walked %d protected routes; the walk is broken", walked)
	}
}

// A session with the right role but no CSRF header is refused on every
// write before anything reaches a service (tokens need none: they are not
// ambient credentials).
func TestAPIWritesWithASessionNeedTheCSRFHeader(t *testing.T) {
	svc := &services{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) {
		cfg.ContactsURL, cfg.CampaignsURL, cfg.DeliveryURL = stand.URL, stand.URL, stand.URL
	})
	b := newBrowser(t, c.URL())
	if code, _ := b.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	// Pages read the organization's time zone from delivery; count from
	// after sign-in.
	before := svc.count()
	resp, raw := b.doRaw("POST", "/api/contacts", `{"first_name":"Ana","phone":"2125550101"}`, map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusForbidden || svc.count() != before {
		t.Fatalf("session write without CSRF = %d %s (service calls %d), want 403 and none", resp.StatusCode, raw, svc.count()-before)
	}
	resp, raw = b.doRaw("POST", "/api/contacts", `{"first_name":"Ana","phone":"2125550101"}`, map[string]string{"Content-Type": "application/json", "X-CSRF-Token": b.csrf})
	if resp.StatusCode != http.StatusCreated || svc.count() != before+1 {
		t.Fatalf("session write with CSRF = %d %s, want 201 from the service", resp.StatusCode, raw)
	}
}

// Paging through the API: the service's own position never shows; the
// cursor the console gives out brings the next page, and a cursor from
// another list is refused before any service is asked.
func TestAPIListsPageWithAnOpaqueCursor(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	stand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RequestURI())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("after") == "" {
			_, _ = io.WriteString(w, `{"messages": [{"id": "m1", "body": "RSVP /rsvp/SeCrEt-token_1"}, {"id": "m2", "body": "hi"}], "next": "m2"}`)
			return
		}
		_, _ = io.WriteString(w, `{"messages": [{"id": "m3", "body": "bye"}], "next": ""}`)
	}))
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.DeliveryURL = stand.URL })
	admin, err := c.DevAdminToken(context.Background(), "pager", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.URL())
	type page struct {
		Messages []struct {
			ID   string `json:"id"`
			Body string `json:"body"`
		} `json:"messages"`
		Next *string `json:"next_cursor"`
		Raw  *string `json:"next"`
	}
	var first page
	if code := b.apiJSON("GET", "/api/messages?campaign_id=c1&limit=2", admin, nil, &first); code != 200 {
		t.Fatalf("first page = %d", code)
	}
	if len(first.Messages) != 2 || first.Next == nil || *first.Next == "" || *first.Next == "m2" || first.Raw != nil {
		t.Fatalf("first page = %+v, want two messages and an opaque next_cursor only", first)
	}
	if strings.Contains(first.Messages[0].Body, "SeCrEt") {
		t.Errorf("the log handed out a member's link: %q", first.Messages[0].Body)
	}
	var second page
	if code := b.apiJSON("GET", "/api/messages?campaign_id=c1&limit=2&cursor="+*first.Next, admin, nil, &second); code != 200 {
		t.Fatalf("second page = %d", code)
	}
	if len(second.Messages) != 1 || second.Next == nil || *second.Next != "" {
		t.Fatalf("second page = %+v, want the last message and an empty next_cursor", second)
	}
	mu.Lock()
	got := append([]string(nil), asked...)
	mu.Unlock()
	if len(got) != 2 || !strings.Contains(got[1], "after=m2") || !strings.Contains(got[1], "campaign_id=c1") || !strings.Contains(got[1], "limit=2") {
		t.Fatalf("delivery was asked %q, want the second page after m2 with the same filter", got)
	}
	var e web.ErrorBody
	if code := b.apiJSON("GET", "/api/suppressions?cursor="+*first.Next, admin, nil, &e); code != 400 || e.Field != "cursor" {
		t.Fatalf("a messages cursor on suppressions = %d %+v, want 400 on cursor", code, e)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := len(asked); n != 2 {
		t.Fatalf("a refused cursor reached delivery (%d calls)", n)
	}
}

// The pages follow the API's rule: a whole file of member data (the
// consent ledger, an import's error report) is an organizer's, audited.
func TestViewersTakeNoFilesOfMemberDataFromThePages(t *testing.T) {
	svc := &services{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) {
		cfg.ContactsURL, cfg.CampaignsURL, cfg.DeliveryURL = stand.URL, stand.URL, stand.URL
	})
	hash, err := account.HashPassword("viewer password 123")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store().CreateOrganizer(context.Background(), account.Organizer{Email: "viewer@muster.test", Role: account.RoleViewer, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	viewer, organizer := newBrowser(t, c.URL()), newBrowser(t, c.URL())
	if code, _ := viewer.signIn("viewer@muster.test", "viewer password 123"); code != http.StatusSeeOther {
		t.Fatal("viewer sign in failed")
	}
	if code, _ := organizer.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("admin sign in failed")
	}
	for _, path := range []string{"/optouts/consent.csv", "/contacts/imports/i1/errors.csv"} {
		before := svc.count()
		if resp, _ := viewer.do("GET", path, nil, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("viewer GET %s = %d, want 403", path, resp.StatusCode)
		}
		if svc.count() != before {
			t.Fatalf("a viewer's download reached a service: %v", svc.seen())
		}
		if resp, body := organizer.do("GET", path, nil, nil); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("admin GET %s = %d %s, want the CSV", path, resp.StatusCode, body)
		}
	}
	if _, page := viewer.do("GET", "/optouts", nil, nil); strings.Contains(page, "consent.csv") {
		t.Error("the opt-outs page offers a viewer the consent export")
	}
	list, err := c.Store().AuditLog(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range list {
		seen[e.Action] = true
	}
	if !seen["consent.export"] || !seen["import.errors"] {
		t.Errorf("downloads not audited: %+v", list)
	}
}

// An upload past CONSOLE_MAX_UPLOAD is cut off on its way to contacts and
// answered 413 in the JSON error shape, not as a service failure; an
// upload that is not a CSV is refused before anything is sent on.
func TestAPIImportLimits(t *testing.T) {
	svc := &services{}
	stand := httptest.NewServer(svc)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) {
		cfg.ContactsURL = stand.URL
		cfg.MaxUpload = 2 << 20
	})
	admin, err := c.DevAdminToken(context.Background(), "importer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.URL())
	auth := map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "text/csv"}
	big := "first_name,phone\n" + strings.Repeat("Ana,+12125550101\n", (3<<20)/17)
	resp, raw := b.doRaw("POST", "/api/imports", big, auth)
	var e web.ErrorBody
	if err := json.Unmarshal([]byte(raw), &e); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || e.Kind != "too_large" {
		t.Fatalf("a 3 MiB upload over a 2 MiB limit = %d %s, want 413 too_large", resp.StatusCode, raw)
	}
	auth["Content-Type"] = "application/json"
	before := svc.count()
	resp, raw = b.doRaw("POST", "/api/imports", `{"file": "no"}`, auth)
	if err := json.Unmarshal([]byte(raw), &e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Field != "Content-Type" || svc.count() != before {
		t.Fatalf("a JSON upload = %d %s, want 400 on Content-Type with nothing sent on", resp.StatusCode, raw)
	}
	auth["Content-Type"] = "text/csv"
	if resp, raw = b.doRaw("POST", "/api/imports?dry_run=true", "first_name,phone\nAna,2125550101\n", auth); resp.StatusCode != http.StatusAccepted ||
		resp.Header.Get("Location") != "/api/imports/i1" {
		t.Fatalf("a small upload = %d %s (Location %q), want 202 and where to follow it", resp.StatusCode, raw, resp.Header.Get("Location"))
	}
}

// A CSV export that the service breaks off part-way reaches the caller
// broken off too, never as a clean end of file that would pass for the
// whole list.
func TestAPIExportBrokenOffIsBrokenOff(t *testing.T) {
	stand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		_, _ = io.WriteString(w, "event_id,channel,address\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // as contacts does when a read fails
	}))
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL = stand.URL })
	admin, err := c.DevAdminToken(context.Background(), "exporter", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("GET", c.URL()+"/api/consent/export.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return // cut before the headers went out: broken off
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("a broken-off export read cleanly: %d %q", resp.StatusCode, body)
	}
}
