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
	"time"

	"github.com/musterhq/muster/services/console/app"
)

// reviewDelivery stands in for delivery's review queue: one open review,
// due soon, and the decisions it is sent.
type reviewDelivery struct {
	mu        sync.Mutex
	decisions []map[string]any
	decided   bool
}

func (d *reviewDelivery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error": "service credentials required", "kind": "unauthorized"}`)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/reviews":
		_, _ = io.WriteString(w, `{"reviews": [{"id": "r1", "channel": "sms", "address": "+12125550142",
			"body": "I told you already to stop", "reason": "uses STOP in a longer message",
			"received_at": "2026-12-04T17:00:00Z", "due_at": "2026-12-18T17:00:00Z", "warn": true}], "next": "", "due_soon": 1}`)
	case r.Method == http.MethodPost && r.URL.Path == "/reviews/r1/decision":
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.decided {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error": "review r1 was decided already", "kind": "conflict"}`)
			return
		}
		d.decided = true
		d.decisions = append(d.decisions, in)
		_, _ = io.WriteString(w, `{"id": "r1", "decision": "opt_out", "outcome": "added"}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error": "not here", "kind": "not_found"}`)
	}
}

func (d *reviewDelivery) got() []map[string]any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]map[string]any(nil), d.decisions...)
}

func (d *reviewDelivery) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.decided = false
}

// The dashboard points to possible opt-outs; the inbox shows them first,
// the number formatted and one due soon marked; "Opt out" needs a session and the CSRF token, sends
// delivery the signed-in organizer's name (never one from the request)
// and leaves an audit entry. Through the API, a name in the body is not
// taken either, and a second decision is delivery's 409.
func TestPossibleOptOutsAreDecidedFromTheInbox(t *testing.T) {
	d := &reviewDelivery{}
	stand := httptest.NewServer(d)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.DeliveryURL = stand.URL })
	ctx := context.Background()

	anon := newBrowser(t, c.URL())
	if resp, _ := anon.do("POST", "/inbox/reviews/r1/decision", url.Values{"decision": {"opt_out"}}, nil); !refused(resp) {
		t.Errorf("a decision without a session = %d, want it refused", resp.StatusCode)
	}

	b := signedIn(t, c)
	if _, home := b.do("GET", "/", nil, nil); !strings.Contains(stripTags(home), "possible opt-outs to decide, 1 due soon") {
		t.Error("the dashboard does not point to the possible opt-out due soon")
	}
	resp, page := b.do("GET", "/inbox", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inbox = %d", resp.StatusCode)
	}
	text := stripTags(page)
	for _, want := range []string{"Possible opt-outs", "(212) 555-0142", "I told you already to stop", "Due soon", "Fri 18 Dec", "17:00 UTC", "1 due soon"} {
		if !strings.Contains(text, want) {
			t.Errorf("the inbox does not show %q", want)
		}
	}
	if !strings.Contains(page, `class="item review warning"`) || !strings.Contains(page, `action="/inbox/reviews/r1/decision"`) {
		t.Error("the review due soon is not marked, or has no decision form")
	}
	if strings.Index(page, "Possible opt-outs") > strings.Index(page, "Inbox filter") {
		t.Error("possible opt-outs are not at the top of the inbox")
	}

	if resp, _ := b.do("POST", "/inbox/reviews/r1/decision", url.Values{"decision": {"opt_out"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a decision without the CSRF token = %d, want 403", resp.StatusCode)
	}
	if n := len(d.got()); n != 0 {
		t.Fatalf("%d decisions reached delivery without sign-in and CSRF", n)
	}
	resp, _ = b.do("POST", "/inbox/reviews/r1/decision", url.Values{"csrf": {b.csrf}, "decision": {"opt_out"}, "by": {"mallory"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "notice=review_opt_out") {
		t.Fatalf("opt out = %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	got := d.got()
	by, _ := got[0]["by"].(string)
	if len(got) != 1 || got[0]["opt_out"] != true || !strings.Contains(by, adminEmail) {
		t.Fatalf("delivery was sent %v, want opt_out true by %s", got, adminEmail)
	}
	entries, err := c.Store().AuditLog(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Action != "review.opt_out" || entries[0].Target != "review r1" || entries[0].Actor != by {
		t.Fatalf("latest audit entry = %+v, want review.opt_out on review r1 by %s", entries[0], by)
	}
	if _, page := b.do("GET", "/inbox?notice=review_opt_out", nil, nil); !strings.Contains(page, "Opted out.") {
		t.Error("the inbox does not confirm the opt-out")
	}

	// The API: the token's maker decides, whatever the body says; a second
	// decision is a conflict, and no audit entry.
	token, err := c.DevAdminToken(ctx, "review script", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d.reset()
	var rv map[string]any
	if code := b.apiJSON("POST", "/api/reviews/r1/decision", token, map[string]any{"opt_out": false, "by": "mallory"}, &rv); code != http.StatusBadRequest {
		t.Errorf("API decision naming who decided = %d %v, want 400: the caller is who decides", code, rv)
	}
	if code := b.apiJSON("POST", "/api/reviews/r1/decision", token, map[string]any{"opt_out": false}, &rv); code != http.StatusOK {
		t.Fatalf("API decision = %d %v", code, rv)
	}
	got = d.got()
	if len(got) != 2 {
		t.Fatalf("delivery got %d decisions, want 2", len(got))
	}
	if last := got[1]; last["opt_out"] != false || last["by"] == "" || last["by"] == "mallory" {
		t.Errorf("delivery was sent %v, want the token's maker", last)
	}
	before, _ := c.Store().AuditLog(ctx, 1)
	var e struct{ Kind string }
	if code := b.apiJSON("POST", "/api/reviews/r1/decision", token, map[string]any{"opt_out": true}, &e); code != http.StatusConflict || e.Kind != "conflict" {
		t.Errorf("a second decision = %d %+v, want 409 conflict", code, e)
	}
	if after, _ := c.Store().AuditLog(ctx, 1); after[0].ID != before[0].ID {
		t.Errorf("a refused decision was audited: %+v", after[0])
	}
	var list struct {
		Reviews    []map[string]any `json:"reviews"`
		DueSoon    int              `json:"due_soon"`
		NextCursor *string          `json:"next_cursor"`
	}
	if code := b.apiJSON("GET", "/api/reviews?state=open", token, nil, &list); code != 200 || len(list.Reviews) != 1 || list.DueSoon != 1 || list.NextCursor == nil {
		t.Errorf("GET /api/reviews = %d %+v", code, list)
	}
}

// With delivery down the dashboard and the inbox still show members'
// replies, and the inbox says the possible opt-outs could not be loaded
// rather than that there are none.
func TestInboxSaysWhenPossibleOptOutsCannotBeRead(t *testing.T) {
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.DeliveryURL = "http://127.0.0.1:1" })
	b := signedIn(t, c)
	if resp, _ := b.do("GET", "/", nil, nil); resp.StatusCode != http.StatusOK {
		t.Errorf("dashboard with delivery down = %d, want the page", resp.StatusCode)
	}
	resp, page := b.do("GET", "/inbox", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "could not be loaded") || strings.Contains(page, "No possible opt-outs waiting") {
		t.Fatalf("inbox with delivery down = %d, want the page with the section's error:\n%s", resp.StatusCode, stripTags(page))
	}
}
