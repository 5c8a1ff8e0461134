package events

import (
	"strings"
	"testing"
)

func TestContentRefNamesExactlyItsContent(t *testing.T) {
	c := Content{Subject: "Hi " + MergeTag(0, false), Text: "Hi " + MergeTag(0, false), HTML: "<p>" + MergeTag(0, true) + "</p>", Merge: []string{"first_name"}}
	ref, data, err := c.Ref()
	if err != nil {
		t.Fatal(err)
	}
	if !ValidRef(ref) || RefOf(data) != ref || ContentSubject(ref) != SubjectContentPrefix+strings.TrimPrefix(ref, "sha256:") {
		t.Fatalf("ref %s, subject %s", ref, ContentSubject(ref))
	}
	again, _, _ := c.Ref()
	c.Text += "."
	edited, _, _ := c.Ref()
	if again != ref || edited == ref {
		t.Fatalf("same content %s/%s, edited %s", ref, again, edited)
	}
	for _, bad := range []string{"", "sha256:", "md5:" + strings.Repeat("0", 32), "sha256:" + strings.Repeat("G", 64), "sha256:" + strings.Repeat("A", 64)} {
		if ValidRef(bad) {
			t.Errorf("%q passed as a ref", bad)
		}
	}
}

// A version 1 request, its email inline, is still read as it always was.
func TestVersionOneSendRequestStillRead(t *testing.T) {
	data := []byte(`{"event_id":"k","type":"send.requested","version":1,"idempotency_key":"k","campaign_id":"c","contact_id":"ct","channel":"email","to":"a@b.org","subject":"S","body":"B","html":"<p>B</p>"}`)
	req, err := DecodeSendRequested(data)
	if err != nil || req.Subject != "S" || req.HTML != "<p>B</p>" || req.ContentRef != "" {
		t.Fatalf("v1 = %+v, %v", req, err)
	}
	if _, err := DecodeSendRequested([]byte(`{"version":3,"idempotency_key":"k","campaign_id":"c","contact_id":"ct"}`)); err == nil {
		t.Fatal("a version newer than this release was read")
	}
}
