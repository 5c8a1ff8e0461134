package app_test

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/services/campaigns/app"
	"github.com/musterhq/muster/shared/events"
)

// The union's name the admin sets in the console is what campaigns uses:
// the first-text check stops warning that a text naming it does not name
// the union, {{org_name}} says it, a second replica (started after) reads
// it from the database, and a name that is empty or too long is refused.
func TestTheOrganizationsNameIsTheOneTheAdminSet(t *testing.T) {
	h := newHarness(t, true, func(c *app.Config) { c.OrgName = "Muster" })
	bo := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000b7", FirstName: "Bo", Phone: "+12125550177"}, tags: []string{"n"}}
	h.dir.add(bo)
	h.dir.serve(t, h.nc, false)
	srv := h.start()

	var got struct {
		OrgName string `json:"org_name"`
	}
	if code := call(t, "GET", srv.url+"/settings/org-name", nil, &got); code != 200 || got.OrgName != "Muster" {
		t.Fatalf("before setup: %d %q, want the configured default", code, got.OrgName)
	}
	id := create(t, srv.url, map[string]any{
		"name": "Rally", "channel": "sms", "audience": map[string]string{"tag": "n"},
		"body": "Local 1199: rally at 5. Reply STOP to opt out.",
	})
	merged := create(t, srv.url, map[string]any{
		"name": "Rally 2", "channel": "sms", "audience": map[string]string{"tag": "n"},
		"body": "{{org_name}}: rally at 5. Reply STOP to opt out.",
	})
	preview := func(url, id string) previewOut {
		t.Helper()
		var p previewOut
		if code := call(t, "POST", url+"/campaigns/"+id+"/preview", map[string]string{"contact_id": bo.ContactID}, &p); code != 200 {
			t.Fatalf("preview = %d", code)
		}
		return p
	}
	if p := preview(srv.url, merged); p.SMS == nil || p.SMS.Body != "Muster: rally at 5. Reply STOP to opt out." {
		t.Errorf("before setup, the text reads %+v", p.SMS)
	}
	if p := preview(srv.url, id); !strings.Contains(strings.Join(p.Warnings, "|"), "name the union (Muster)") {
		t.Errorf("before setup, warnings = %v, want the text said not to name Muster", p.Warnings)
	}

	for _, bad := range []string{"", "   ", strings.Repeat("x", 61)} {
		if code := call(t, "PUT", srv.url+"/settings/org-name", map[string]string{"org_name": bad, "updated_by": "admin@union.org"}, nil); code != 400 {
			t.Errorf("name %q = %d, want 400", bad, code)
		}
	}
	if code := call(t, "PUT", srv.url+"/settings/org-name", map[string]string{"org_name": " Local 1199 ", "updated_by": "admin@union.org"}, &got); code != 200 || got.OrgName != "Local 1199" {
		t.Fatalf("setting the name = %d %q", code, got.OrgName)
	}
	p := preview(srv.url, id)
	if strings.Contains(strings.Join(p.Warnings, "|"), "name the union") {
		t.Errorf("after setup, warnings = %v: the text names Local 1199", p.Warnings)
	}
	if p := preview(srv.url, merged); p.SMS == nil || p.SMS.Body != "Local 1199: rally at 5. Reply STOP to opt out." {
		t.Errorf("after setup, the text reads %+v", p.SMS)
	}
	other := h.start()
	if code := call(t, "GET", other.url+"/settings/org-name", nil, &got); code != 200 || got.OrgName != "Local 1199" {
		t.Errorf("another replica says %d %q, want the stored name", code, got.OrgName)
	}
}
