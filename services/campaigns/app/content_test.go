package app_test

import (
	"encoding/base64"
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// A launched email step names stored content and carries only each
// member's merge values: each member gets their own first name in
// subject and body (escaped in the HTML part, as is in the text). Moving
// the meeting after launch changes what later steps say and never what
// was already requested: the invitation's requests still name content
// with the old place, unchanged under its hash.
func TestEmailContentStoredOnceAndNeverEdited(t *testing.T) {
	h := newHarness(t, false, nil)
	odd := `<b>&"`
	h.dir.add(
		member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000e1", FirstName: "Eve", Email: "eve@example.org"}, tags: []string{"edit"}},
		member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000e2", FirstName: odd, Email: "fay@example.org"}, tags: []string{"edit"}},
		member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000e3", Email: "gus@example.org"}, tags: []string{"edit"}},
	)
	srv := h.start()
	out := h.outbox()
	start := h.began.Add(80 * time.Hour)
	id := create(t, srv.url, map[string]any{
		"name": "Moved meeting", "kind": "meeting", "channel": "email",
		"email":    map[string]string{"subject": "{{first_name|friend}}: {{meeting_title}}", "text": "Hi {{first_name}}, meet at {{meeting_place}}.\n\nYours, {{org_name}}"},
		"audience": map[string]string{"tag": "edit"},
		"meeting":  map[string]any{"title": "Stewards", "starts_at": start, "place": "Union Hall", "reminders": []string{"-24h"}},
	})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	invited(t, srv.url, id, out, 3)
	first := out.where(func(m events.SendRequested) bool { return m.CampaignID == id && m.Step == 0 })
	want := map[string]string{"eve@example.org": "Eve", "fay@example.org": odd, "gus@example.org": ""}
	for _, m := range first {
		name := want[m.To]
		subject := name
		if subject == "" {
			subject = "friend"
		}
		if m.Subject != subject+": Stewards" {
			t.Errorf("%s: subject %q", m.To, m.Subject)
		}
		if !strings.HasPrefix(m.Body, "Hi "+name+", meet at Union Hall.") {
			t.Errorf("%s: text %q", m.To, m.Body)
		}
		if esc := strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&#34;").Replace(name); !strings.Contains(m.HTML, "Hi "+esc+", meet at Union Hall.") {
			t.Errorf("%s: html %q", m.To, m.HTML)
		}
	}
	out.mu.Lock()
	published := append([]events.SendRequested(nil), out.refs...)
	out.mu.Unlock()
	if len(published) != 3 {
		t.Fatalf("%d requests named stored content, want all 3", len(published))
	}
	ref := published[0].ContentRef
	for _, r := range published {
		if r.ContentRef != ref || r.Subject != "" || r.Body != "" || r.HTML != "" || len(r.Attachments) != 0 {
			t.Errorf("%s: a step's request carries content of its own or names another (%s)", r.To, r.ContentRef)
		}
	}
	before, err := h.storedContent(ref)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(before.Text+before.HTML+before.Subject, "Eve") {
		t.Fatal("stored content holds a member's name")
	}

	// The meeting moves after launch; the reminder says where it is now.
	if code := call(t, "PATCH", srv.url+"/campaigns/"+id+"/meeting", map[string]any{"place": "Room 2"}, nil); code != 200 {
		t.Fatalf("moving the meeting = %d", code)
	}
	// The scheduler takes a step it finds locked (the meeting's update
	// still fanning out holds the campaign's row) on its next look, so the
	// test looks again, as the scheduler's loop does.
	testkit.Eventually(t, "the reminder", func() bool {
		h.tick(srv, start.Add(-24*time.Hour))
		return findStep(t, srv.url, id, "reminder", "-24h0m0s", "").Status == "done"
	})
	rem := out.where(func(m events.SendRequested) bool {
		return m.CampaignID == id && m.Step != 0 && m.To == "eve@example.org"
	})
	if len(rem) != 1 || !strings.Contains(rem[0].Body, "Room 2") || !strings.Contains(rem[0].Body, "Hi Eve,") {
		t.Fatalf("Eve's reminder = %+v", rem)
	}
	after, err := h.storedContent(ref)
	if err != nil {
		t.Fatal(err)
	}
	ics, _ := base64.StdEncoding.DecodeString(after.Attachments[0].Content)
	if after.Text != before.Text || after.HTML != before.HTML || !strings.Contains(after.Text, "Union Hall") || !strings.Contains(string(ics), "Union Hall") {
		t.Errorf("the invitation's content changed after the edit:\n%s", after.Text)
	}
	out.mu.Lock()
	for _, r := range out.refs {
		if r.Step != 0 && r.ContentRef == ref {
			t.Errorf("the reminder names the invitation's content")
		}
	}
	out.mu.Unlock()
}
