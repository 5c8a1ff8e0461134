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

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
)

// TestSavedRepliesAreKept: the store trims, refuses a blank title or body
// and a title used already (whatever its case), lists by title, changes
// and deletes; a missing one is not found.
func TestSavedRepliesAreKept(t *testing.T) {
	c := startConsole(t, 100)
	ctx := context.Background()
	st := c.Store()
	park, err := st.CreateSavedReply(ctx, store.SavedReply{Title: "  Parking ", Body: " Park in lot B. "}, "")
	if err != nil {
		t.Fatal(err)
	}
	if park.Title != "Parking" || park.Body != "Park in lot B." || park.ID == "" {
		t.Fatalf("created %+v", park)
	}
	if _, err := st.CreateSavedReply(ctx, store.SavedReply{Title: "Kids", Body: "Bring them!"}, "token:t1"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		r     store.SavedReply
		kind  apperr.Kind
		field string
	}{
		{store.SavedReply{Title: "PARKING", Body: "again"}, apperr.KindConflict, ""},
		{store.SavedReply{Title: " ", Body: "x"}, apperr.KindInvalid, "title"},
		{store.SavedReply{Title: "Empty", Body: "  "}, apperr.KindInvalid, "body"},
		{store.SavedReply{Title: strings.Repeat("t", 81), Body: "x"}, apperr.KindInvalid, "title"},
		{store.SavedReply{Title: "Long", Body: strings.Repeat("b", 1601)}, apperr.KindInvalid, "body"},
	} {
		if _, err := st.CreateSavedReply(ctx, bad.r, ""); apperr.KindOf(err) != bad.kind || apperr.FieldOf(err) != bad.field {
			t.Errorf("creating %q = %v, want %v on %q", bad.r.Title, err, bad.kind, bad.field)
		}
	}
	list, err := st.SavedReplies(ctx)
	if err != nil || len(list) != 2 || list[0].Title != "Kids" || list[1].Title != "Parking" {
		t.Fatalf("saved replies = %+v %v, want Kids then Parking", list, err)
	}
	c.clock.Advance(time.Minute)
	changed, err := st.UpdateSavedReply(ctx, store.SavedReply{ID: park.ID, Title: "Parking", Body: "Lot C this week."})
	if err != nil || changed.Body != "Lot C this week." || !changed.UpdatedAt.After(park.UpdatedAt) {
		t.Fatalf("changed = %+v %v", changed, err)
	}
	if _, err := st.UpdateSavedReply(ctx, store.SavedReply{ID: park.ID, Title: "kids", Body: "x"}); apperr.KindOf(err) != apperr.KindConflict {
		t.Errorf("renaming onto another title = %v, want a conflict", err)
	}
	if _, err := st.DeleteSavedReply(ctx, park.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{park.ID, "not-a-uuid"} {
		if _, err := st.DeleteSavedReply(ctx, id); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("deleting %s again = %v, want not found", id, err)
		}
		if _, err := st.SavedReply(ctx, id); apperr.KindOf(err) != apperr.KindNotFound {
			t.Errorf("reading %s = %v, want not found", id, err)
		}
	}
}

// TestOnlyAdminsWriteSavedReplies: viewers and organizers read saved
// replies but cannot write, change or delete them, through the API or the
// admin page; an admin can, and the page keeps what was typed when it is
// refused.
func TestOnlyAdminsWriteSavedReplies(t *testing.T) {
	c := startConsole(t, 100)
	ctx := context.Background()
	admin, err := c.DevAdminToken(ctx, "saved", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	api := newBrowser(t, c.URL())
	tokens := map[string]string{}
	for _, role := range []string{"viewer", "organizer"} {
		var out tokenOut
		if code := api.apiJSON("POST", "/api/tokens", admin, map[string]any{"name": role, "role": role}, &out); code != http.StatusCreated {
			t.Fatalf("making a %s token = %d", role, code)
		}
		tokens[role] = out.Token
	}
	var made store.SavedReply
	if code := api.apiJSON("POST", "/api/saved-replies", admin, map[string]any{"title": "Parking", "body": "Lot B."}, &made); code != http.StatusCreated || made.ID == "" {
		t.Fatalf("admin creating = %d %+v", code, made)
	}
	for role, tok := range tokens {
		if code := api.apiJSON("POST", "/api/saved-replies", tok, map[string]any{"title": "Mine", "body": "x"}, nil); code != http.StatusForbidden {
			t.Errorf("%s creating = %d, want 403", role, code)
		}
		if code := api.apiJSON("PUT", "/api/saved-replies/"+made.ID, tok, map[string]any{"title": "Parking", "body": "changed"}, nil); code != http.StatusForbidden {
			t.Errorf("%s changing = %d, want 403", role, code)
		}
		if code := api.apiJSON("DELETE", "/api/saved-replies/"+made.ID, tok, nil, nil); code != http.StatusForbidden {
			t.Errorf("%s deleting = %d, want 403", role, code)
		}
		var list struct {
			SavedReplies []store.SavedReply `json:"saved_replies"`
		}
		if code := api.apiJSON("GET", "/api/saved-replies", tok, nil, &list); code != http.StatusOK || len(list.SavedReplies) != 1 || list.SavedReplies[0].Body != "Lot B." {
			t.Errorf("%s reading = %d %+v, want the one saved reply", role, code, list)
		}
	}
	if code := api.apiJSON("POST", "/api/saved-replies", admin, map[string]any{"title": "", "body": "x"}, nil); code != http.StatusBadRequest {
		t.Errorf("a blank title = %d, want 400", code)
	}

	// Pages: an organizer signed in cannot reach the admin's page.
	hash, err := account.HashPassword("organizer password 1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store().CreateOrganizer(ctx, account.Organizer{Email: "org@muster.test", Role: account.RoleOrganizer, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	org := newBrowser(t, c.URL())
	if code, _ := org.signIn("org@muster.test", "organizer password 1"); code != http.StatusSeeOther {
		t.Fatal("organizer sign in failed")
	}
	if resp, _ := org.do("GET", "/admin/saved-replies", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("organizer opening the saved replies page = %d, want 403", resp.StatusCode)
	}
	for _, path := range []string{"/admin/saved-replies", "/admin/saved-replies/" + made.ID, "/admin/saved-replies/" + made.ID + "/delete"} {
		if resp, _ := org.do("POST", path, url.Values{"csrf": {org.csrf}, "title": {"Mine"}, "body": {"x"}}, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("organizer POST %s = %d, want 403", path, resp.StatusCode)
		}
	}

	// The admin's page: a duplicate title is shown on the form, with
	// what was typed kept.
	b := signedIn(t, c)
	resp, page := b.do("POST", "/admin/saved-replies", url.Values{"csrf": {b.csrf}, "title": {"parking"}, "body": {"Typed with care"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `id="saved-error"`) || !strings.Contains(page, "Typed with care") {
		t.Errorf("a duplicate title on the page = %d, want the form again with the error and the text", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/admin/saved-replies", url.Values{"csrf": {b.csrf}, "title": {"Kids"}, "body": {"Bring them!"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("creating on the page = %d, want 303", resp.StatusCode)
	}
	if _, page := b.do("GET", "/admin/saved-replies", nil, nil); !strings.Contains(page, "Bring them!") || !strings.Contains(page, "Lot B.") {
		t.Error("the page does not list both saved replies")
	}
	if list, _ := c.Store().SavedReplies(ctx); len(list) != 2 {
		t.Errorf("saved replies = %+v, want 2", list)
	}
}

// inboxCampaigns stands in for campaigns' inbox: two conversations
// waiting (Ana about the rally, an unknown number), Ana's thread, the
// campaigns list, and the bulk "handled" it is asked for.
type inboxCampaigns struct {
	mu      sync.Mutex
	queries []string
	handled [][]string
}

func (s *inboxCampaigns) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == "/campaigns":
		_, _ = io.WriteString(w, `{"campaigns": [{"id": "c1", "name": "Rally Friday", "status": "launched"}]}`)
	case r.URL.Path == "/inbox/conversations":
		s.queries = append(s.queries, r.URL.RawQuery)
		_, _ = io.WriteString(w, `{"conversations": [
			{"latest": {"id": "i2", "campaign_id": "c1", "contact_id": "k1", "first_name": "Ana", "last_name": "Diaz", "channel": "sms", "from": "+12125550101",
				"body": "And is there parking?", "received_at": "2026-12-04T17:00:00Z", "conversation": "c:k1"}, "count": 2, "open": 2},
			{"latest": {"id": "i3", "channel": "sms", "from": "+12125550199", "body": "who is this", "received_at": "2026-12-04T16:00:00Z", "conversation": "a:+12125550199"}, "count": 1, "open": 1}]}`)
	case r.URL.Path == "/inbox" && r.URL.Query().Get("conversation") == "c:k1":
		_, _ = io.WriteString(w, `{"items": [
			{"id": "i2", "campaign_id": "c1", "contact_id": "k1", "first_name": "Ana", "last_name": "Diaz", "channel": "sms", "from": "+12125550101", "body": "And is there parking?", "received_at": "2026-12-04T17:00:00Z", "conversation": "c:k1", "replies": []},
			{"id": "i1", "campaign_id": "c1", "contact_id": "k1", "first_name": "Ana", "last_name": "Diaz", "channel": "sms", "from": "+12125550101", "body": "Can I bring my kids?", "received_at": "2026-12-04T16:30:00Z", "conversation": "c:k1",
				"replies": [{"body": "Of course!", "created_at": "2026-12-04T16:40:00Z"}]}]}`)
	case r.Method == http.MethodPost && r.URL.Path == "/inbox/handled":
		var in struct {
			Conversations []string `json:"conversations"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		s.handled = append(s.handled, in.Conversations)
		_, _ = io.WriteString(w, `{"handled": 3}`)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error": "not here", "kind": "not_found"}`)
	}
}

// TestTheInboxListsConversationsAndHandlesThemInBulk: one row per
// conversation with the member's name, the campaign's name and a link to
// the member; the campaign filter reaches campaigns; a conversation opens
// as a thread with the saved replies to pick; two conversations marked
// handled at once go to campaigns together, and then count as mine.
func TestTheInboxListsConversationsAndHandlesThemInBulk(t *testing.T) {
	camp := &inboxCampaigns{}
	stand := httptest.NewServer(camp)
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.CampaignsURL = stand.URL })
	ctx := context.Background()
	saved, err := c.Store().CreateSavedReply(ctx, store.SavedReply{Title: "Parking", Body: "Park in lot B."}, "")
	if err != nil {
		t.Fatal(err)
	}
	b := signedIn(t, c)
	resp, page := b.do("GET", "/inbox", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("inbox = %d", resp.StatusCode)
	}
	text := stripTags(page)
	for _, want := range []string{"Ana Diaz", "And is there parking?", "answers Rally Friday", "(212) 555-0199", "2 waiting", "Mark selected handled"} {
		if !strings.Contains(text, want) {
			t.Errorf("the inbox does not show %q", want)
		}
	}
	if !strings.Contains(page, `href="/contacts/k1"`) || !strings.Contains(page, `value="c:k1"`) || strings.Contains(page, "<textarea") {
		t.Error("the rows lack the member's link or a checkbox, or a reply box shows with no conversation open")
	}
	if _, page := b.do("GET", "/inbox?campaign=c1&status=all", nil, nil); !strings.Contains(page, `<option value="c1" selected>`) {
		t.Error("the campaign filter is not kept on the page")
	}
	_, page = b.do("GET", "/inbox?c="+url.QueryEscape("c:k1")+"&saved="+saved.ID, nil, nil)
	turns := page[strings.Index(page, `id="thread-turns"`):]
	turns = stripTags(turns[:strings.Index(turns, "</ol>")])
	kids, ours, parking := strings.Index(turns, "Can I bring my kids?"), strings.Index(turns, "Of course!"), strings.Index(turns, "And is there parking?")
	if kids < 0 || !(kids < ours && ours < parking) {
		t.Errorf("the thread does not show Ana's texts and our answer in order: %q", turns)
	}
	if !strings.Contains(page, `id="reply-body" name="body" rows="3" required>Park in lot B.</textarea>`) {
		t.Error("the saved reply picked is not in the reply box")
	}
	if !strings.Contains(page, `action="/inbox/i2/reply"`) {
		t.Error("the reply answers something other than Ana's newest text")
	}

	// Bulk: both conversations at once; then they are mine.
	resp, _ = b.do("POST", "/inbox/handled", url.Values{"csrf": {b.csrf}, "c": {"c:k1", "a:+12125550199"}, "campaign": {"c1"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/inbox?") || !strings.Contains(resp.Header.Get("Location"), "campaign=c1") {
		t.Fatalf("bulk handled = %d to %q, want back to the filtered inbox", resp.StatusCode, resp.Header.Get("Location"))
	}
	camp.mu.Lock()
	got := camp.handled
	queries := append([]string(nil), camp.queries...)
	camp.mu.Unlock()
	if len(got) != 1 || len(got[0]) != 2 || got[0][0] != "c:k1" || got[0][1] != "a:+12125550199" {
		t.Fatalf("campaigns was asked to handle %v", got)
	}
	if !strings.Contains(strings.Join(queries, " "), "campaign_id=c1") {
		t.Errorf("the campaign filter never reached campaigns: %v", queries)
	}
	if resp, page := b.do("POST", "/inbox/handled", url.Values{"csrf": {b.csrf}}, nil); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "Select the conversations") {
		t.Errorf("bulk handled with nothing selected = %d, want the inbox with a message", resp.StatusCode)
	}
	var mine struct {
		Conversations []struct {
			Conversation string `json:"conversation"`
			Mine         bool   `json:"mine"`
			CampaignName string `json:"campaign_name"`
		} `json:"conversations"`
	}
	if code := b.apiJSON("GET", "/api/inbox/conversations?mine=true", "", nil, &mine); code != http.StatusOK || len(mine.Conversations) != 2 || !mine.Conversations[0].Mine ||
		mine.Conversations[0].CampaignName != "Rally Friday" {
		t.Errorf("mine = %d %+v, want both conversations", code, mine)
	}
	other := newBrowser(t, c.URL())
	hash, _ := account.HashPassword("second organizer 1")
	if _, err := c.Store().CreateOrganizer(ctx, account.Organizer{Email: "two@muster.test", Role: account.RoleOrganizer, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	if code, _ := other.signIn("two@muster.test", "second organizer 1"); code != http.StatusSeeOther {
		t.Fatal("second organizer sign in failed")
	}
	if _, page := other.do("GET", "/inbox?mine=1", nil, nil); !strings.Contains(page, `id="no-conversations"`) {
		t.Error("another organizer's mine shows conversations they never touched")
	}
	if code := b.apiJSON("GET", "/api/inbox/conversations?status=bogus", "", nil, nil); code != http.StatusBadRequest {
		t.Errorf("a bogus status = %d, want 400", code)
	}
}
