package app_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/musterhq/muster/services/console/app"
)

// memberList stands in for contacts: one member, x1, whose PATCHes and
// audience counts it records, refusing a phone it cannot read as contacts
// does.
type memberList struct {
	mu      sync.Mutex
	patches []map[string]any
	counts  []any
	queries []string
}

func (m *memberList) serve(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		var in map[string]any
		if r.Body != nil {
			raw, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(raw, &in)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		switch {
		case r.URL.Path == "/tags":
			m.queries = append(m.queries, r.URL.RawQuery)
			_, _ = io.WriteString(w, `{"tags": [{"tag": "nights", "count": 3}, {"tag": "steward", "count": 1}]}`)
		case r.URL.Path == "/audiences/count":
			m.counts = append(m.counts, in["filter"])
			_, _ = io.WriteString(w, `{"total": 2, "reachable": 2, "unreachable": 0, "sms": {"reachable": 2}, "email": {"reachable": 1}}`)
		case r.URL.Path == "/contacts/x1" && r.Method == http.MethodPatch:
			if p, _ := in["phone"].(string); p == "555-CALL-NOW" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error": "phone: \"555-CALL-NOW\" is not a phone number", "kind": "invalid", "field": "phone"}`)
				return
			}
			m.patches = append(m.patches, in)
			_, _ = io.WriteString(w, `{"id": "x1"}`)
		case r.URL.Path == "/contacts/x1/consent":
			_, _ = io.WriteString(w, `{"current": [], "history": []}`)
		case r.URL.Path == "/contacts/x1":
			_, _ = io.WriteString(w, `{"id": "x1", "first_name": "Ana", "last_name": "Ruiz", "phone": "+12125550101", "email": "", "language": "en",
				"tags": ["nights"], "attributes": {"worksite": "General", "shift": "night", "unit": "4B"}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error": "not found", "kind": "not_found"}`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (m *memberList) recorded() ([]map[string]any, []any, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]map[string]any(nil), m.patches...), append([]any(nil), m.counts...), append([]string(nil), m.queries...)
}

func startMemberList(t *testing.T) (*console, *memberList, *browser) {
	t.Helper()
	m := &memberList{}
	stand := m.serve(t)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL, cfg.DeliveryURL = stand.URL, stand.URL })
	return c, m, signedIn(t, c)
}

func TestComposeSendsCampaignsTheBuiltAudience(t *testing.T) {
	c, m, b := startMemberList(t)
	form := url.Values{"csrf": {b.csrf}, "name": {"Nights at Mercy"}, "kind": {"alert"}, "channel": {"sms"}, "body": {"Meet at 7"},
		"aud_match": {"all"}, "aud_kind_0": {"tag"}, "aud_value_0": {"nights"},
		"aud_kind_1": {"worksite"}, "aud_value_1": {"Mercy"},
		"aud_kind_2": {"tag"}, "aud_value_2": {"steward"}, "aud_not_2": {"1"}}
	want := asJSON(map[string]any{"filter": map[string]any{"all": []any{
		map[string]any{"tag": "nights"},
		map[string]any{"field": "worksite", "op": "eq", "value": "Mercy"},
		map[string]any{"not": map[string]any{"tag": "steward"}},
	}}})

	// Without JavaScript, "Count" draws the form again with the count and
	// every field as typed, and saves nothing.
	count := url.Values{"aud_count": {"1"}}
	for k, v := range form {
		count[k] = v
	}
	resp, page := b.do("POST", "/campaigns/new", count, nil)
	text := html.UnescapeString(stripTags(page))
	if resp.StatusCode != http.StatusOK || !strings.Contains(text, "2 members match: 2 can be texted, 1 can be emailed.") ||
		!strings.Contains(page, `value="Mercy"`) || !strings.Contains(page, `value="Nights at Mercy"`) || len(c.creates()) != 0 {
		t.Fatalf("count = %d, created %d:\n%s", resp.StatusCode, len(c.creates()), text)
	}
	if _, counts, _ := m.recorded(); len(counts) != 1 || !reflect.DeepEqual(asJSON(counts[0]), want.(map[string]any)["filter"]) {
		t.Errorf("contacts counted %v, want the built filter", counts)
	}
	// "Add a condition" draws two empty rows after the three typed.
	add := url.Values{"aud_add": {"1"}}
	for k, v := range form {
		add[k] = v
	}
	resp, page = b.do("POST", "/campaigns/new", add, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="aud_value_4"`) || strings.Contains(page, `id="aud_value_5"`) || len(c.creates()) != 0 {
		t.Errorf("add a condition = %d, created %d", resp.StatusCode, len(c.creates()))
	}
	// The tags in use are offered as suggestions.
	if !strings.Contains(page, `<option value="nights">nights (3)</option>`) {
		t.Errorf("no tag suggestions on the page")
	}

	// Saving sends campaigns the filter.
	resp, page = b.do("POST", "/campaigns/new", form, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("compose = %d:\n%s", resp.StatusCode, page)
	}
	got := c.creates()
	if len(got) != 1 || !reflect.DeepEqual(got[0]["audience"], want) {
		t.Fatalf("campaigns got audience %v, want %v", got, want)
	}
	// The review says who in words.
	_, text, _ = b.page("/campaigns/c2/launch")
	if !strings.Contains(strings.Join(strings.Fields(text), " "), "tagged nights, worksite is Mercy and not tagged steward") {
		t.Errorf("review does not say the audience:\n%s", text)
	}

	// Bad input is said on the form, nothing is lost, nothing is sent.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("aud_kind_1", "attr")
	resp, page = b.do("POST", "/campaigns/new", bad, nil)
	text = html.UnescapeString(stripTags(page))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, "condition 2: name the attribute") ||
		!strings.Contains(page, `id="aud_attr_1" name="aud_attr_1" value="" placeholder="unit" maxlength="64" autocomplete="off" aria-invalid="true"`) ||
		!strings.Contains(page, `value="Meet at 7"`) && !strings.Contains(page, "Meet at 7") || len(c.creates()) != 1 {
		t.Errorf("bad audience = %d, created %d:\n%s", resp.StatusCode, len(c.creates()), page)
	}
}

func TestLiveAudienceCountTakesTheWholeExpression(t *testing.T) {
	_, m, b := startMemberList(t)
	q := url.Values{"aud_match": {"any"}, "aud_kind_0": {"shift"}, "aud_value_0": {"night"}, "aud_kind_3": {"language"}, "aud_value_3": {"es"}}
	var n struct {
		Total int `json:"total"`
	}
	resp, raw := b.do("GET", "/campaigns/audience-count?"+q.Encode(), nil, map[string]string{"Accept": "application/json"})
	if err := json.Unmarshal([]byte(raw), &n); err != nil || resp.StatusCode != 200 || n.Total != 2 {
		t.Fatalf("count = %d %s", resp.StatusCode, raw)
	}
	_, counts, _ := m.recorded()
	want := asJSON(map[string]any{"any": []any{
		map[string]any{"field": "shift", "op": "eq", "value": "night"},
		map[string]any{"field": "language", "op": "eq", "value": "es"},
	}})
	if len(counts) != 1 || !reflect.DeepEqual(asJSON(counts[0]), want) {
		t.Errorf("counted %v, want %v", counts, want)
	}
	// The older tag query still counts a tag.
	if resp, raw := b.do("GET", "/campaigns/audience-count?tag=rally", nil, nil); resp.StatusCode != 200 || !strings.Contains(raw, `"total":2`) {
		t.Errorf("tag count = %d %s", resp.StatusCode, raw)
	}
	// An audience still being typed wrong is a 400 naming the condition.
	resp, raw = b.do("GET", "/campaigns/audience-count?aud_kind_0=attr&aud_value_0=x", nil, nil)
	if resp.StatusCode != 400 || !strings.Contains(raw, "condition 1: name the attribute") || !strings.Contains(raw, `"field":"aud_attr_0"`) {
		t.Errorf("bad count = %d %s", resp.StatusCode, raw)
	}
	// Tag suggestions pass the typed start and the limit on to contacts.
	resp, raw = b.do("GET", "/api/tags?q=ni&limit=20&other=x", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(raw, `"nights"`) {
		t.Errorf("tags = %d %s", resp.StatusCode, raw)
	}
	if _, _, queries := m.recorded(); len(queries) == 0 || queries[len(queries)-1] != "limit=20&q=ni" {
		t.Errorf("contacts was asked for tags with %q", queries)
	}
}

func TestEditAndTagOneMember(t *testing.T) {
	c, m, b := startMemberList(t)
	_, text, raw := b.page("/contacts/x1")
	if !strings.Contains(raw, `href="/contacts/x1/edit"`) || !strings.Contains(raw, `aria-label="Remove tag nights"`) || !strings.Contains(text, "Add a tag to Ana") {
		t.Fatalf("member page offers no edit or tagging:\n%s", text)
	}
	code, _, raw := b.page("/contacts/x1/edit")
	if code != 200 || !strings.Contains(raw, `id="worksite" name="worksite" value="General"`) || !strings.Contains(raw, `value="4B"`) || strings.Contains(strings.ToLower(stripTags(raw)), "opt out</") {
		t.Fatalf("edit page = %d:\n%s", code, raw)
	}
	edit := url.Values{"csrf": {b.csrf}, "first_name": {"Ana"}, "last_name": {"Ruiz"}, "phone": {"+12125550101"}, "email": {""}, "language": {"en"},
		"worksite": {"Mercy"}, "shift": {"night"}, "attr_key": {"unit"}, "attr_value": {""}, "new_key": {"Badge"}, "new_value": {"77"}}

	// A phone contacts cannot read comes back on the form, as typed.
	bad := url.Values{}
	for k, v := range edit {
		bad[k] = v
	}
	bad.Set("phone", "555-CALL-NOW")
	resp, page := b.do("POST", "/contacts/x1/edit", bad, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), `is not a phone number`) ||
		!strings.Contains(page, `value="555-CALL-NOW"`) || !strings.Contains(page, `value="Mercy"`) || !strings.Contains(page, `aria-invalid="true"`) {
		t.Fatalf("bad phone = %d:\n%s", resp.StatusCode, page)
	}
	// An attribute name without letters is refused before contacts.
	bad.Set("phone", "+12125550101")
	bad.Set("new_key", "??")
	if resp, page := b.do("POST", "/contacts/x1/edit", bad, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(html.UnescapeString(page), "not an attribute name") {
		t.Errorf("bad attribute = %d", resp.StatusCode)
	}
	if patches, _, _ := m.recorded(); len(patches) != 0 {
		t.Fatalf("refused edits reached contacts: %v", patches)
	}

	resp, _ = b.do("POST", "/contacts/x1/edit", edit, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/contacts/x1?done=saved" {
		t.Fatalf("edit = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.do("POST", "/contacts/x1/tags", url.Values{"csrf": {b.csrf}, "op": {"add"}, "tag": {" Rally "}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("tag = %d", resp.StatusCode)
	}
	resp, page = b.do("POST", "/contacts/x1/tags", url.Values{"csrf": {b.csrf}, "op": {"add"}, "tag": {""}}, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "name the tag to add") {
		t.Errorf("empty tag = %d", resp.StatusCode)
	}
	patches, _, _ := m.recorded()
	want := []any{
		asJSON(map[string]any{"attributes": map[string]any{"worksite": "Mercy", "unit": nil, "Badge": "77"}}),
		asJSON(map[string]any{"add_tags": []string{"rally"}}),
	}
	if !reflect.DeepEqual(asJSON(patches), want) {
		t.Errorf("contacts got %v, want %v (only what changed, consent never)", patches, want)
	}
	// Both changes are in the audit log under the member, on their page.
	entries, err := c.Store().AuditOf(context.Background(), "contact x1", 10)
	if err != nil || len(entries) != 2 || entries[0].Detail != "add tag rally" || entries[1].Detail != "changed worksite, unit, Badge" {
		t.Errorf("audit = %+v %v", entries, err)
	}
	_, text, _ = b.page("/contacts/x1?done=tag-added&tag=rally")
	if !strings.Contains(text, "Tag rally added.") || !strings.Contains(text, "changed worksite, unit, Badge") {
		t.Errorf("member page does not say what changed:\n%s", text)
	}

	// Viewers see the member but cannot edit or tag.
	viewer := firstSignIn(t, c, "viewer@muster.test", invite(t, b, "viewer@muster.test", "viewer"))
	if resp, _ := viewer.do("GET", "/contacts/x1/edit", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer edit page = %d, want 403", resp.StatusCode)
	}
	if _, _, raw := viewer.page("/contacts/x1"); strings.Contains(raw, "/contacts/x1/edit") || strings.Contains(raw, `id="tag-one"`) {
		t.Errorf("viewer is offered edits")
	}
}
