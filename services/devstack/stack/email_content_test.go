package stack_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"
)

// A campaign email goes through every real part with its content stored
// once: each member gets their own first name in the subject and body
// (an HTML-special name escaped in the HTML part and as typed in the
// text). (That members of one batch share one call is held by
// delivery's TestEmailFromStoredContent, whose batch lingers long enough
// to be sure of it.)
func TestCampaignEmailPersonalizedPerMember(t *testing.T) {
	st := startStack(t, false)
	names := map[string]string{"ana@local1199.org": "Ana", "bo@local1199.org": "Bo", "odd@local1199.org": `<b>&"`}
	for addr, name := range names {
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": name, "email": addr, "tags": []string{"mail"}}, nil); code != 201 {
			t.Fatalf("create %s = %d", addr, code)
		}
	}
	var c struct {
		ID string `json:"id"`
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns", map[string]any{
		"name": "Contract vote", "channel": "email", "audience": map[string]string{"tag": "mail"},
		"email": map[string]string{
			"subject": "{{first_name}}, the vote is Thursday",
			"text":    "Hi {{first_name}},\n\nvote at the union hall, 5pm.",
			"html":    "<p>Hi {{first_name}},</p><p>vote at the union hall, 5pm.</p>",
		},
	}, &c); code != 201 {
		t.Fatalf("create campaign = %d", code)
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+c.ID+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "three emails", func() bool { return st.Sim.EmailCount() >= 3 })
	emails := st.Sim.Emails()
	if len(emails) != 3 {
		t.Fatalf("%d emails, want 3", len(emails))
	}
	esc := strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&#34;")
	for _, e := range emails {
		name, ok := names[e.To]
		if !ok {
			t.Fatalf("an email to %s", e.To)
		}
		delete(names, e.To)
		if e.Subject != name+", the vote is Thursday" {
			t.Errorf("%s: subject %q", e.To, e.Subject)
		}
		if !strings.HasPrefix(e.Text, "Hi "+name+",\n\nvote at the union hall") {
			t.Errorf("%s: text %q", e.To, e.Text)
		}
		if !strings.HasPrefix(e.HTML, "<p>Hi "+esc.Replace(name)+",</p>") {
			t.Errorf("%s: html %q", e.To, e.HTML)
		}
	}
	if len(names) != 0 {
		t.Errorf("no email for %v", names)
	}
}
