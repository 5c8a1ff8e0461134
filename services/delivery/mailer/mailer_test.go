package mailer

import (
	"reflect"
	"testing"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
)

// Requests share a mail/send only when subject, both bodies and the
// attachments are all the same; groups keep the order they first appear
// in, and members keep their order within a group.
func TestByContentGroupsOnlyIdenticalContent(t *testing.T) {
	m := New(Config{}, nil, nil, nil, nil, zap.NewNop())
	ics := []events.Attachment{{Filename: "meeting.ics", ContentType: "text/calendar", Content: "QkVHSU4="}}
	reqs := []events.SendRequested{
		{To: "a@x.org", Subject: "Vote", Body: "Thursday", HTML: "<p>Thursday</p>"},
		{To: "b@x.org", Subject: "Vote", Body: "Thursday", HTML: "<p>Thursday</p>"},
		{To: "c@x.org", Subject: "Vote", Body: "Thursday", HTML: "<p>Friday</p>"},
		{To: "d@x.org", Subject: "Vote!", Body: "Thursday", HTML: "<p>Thursday</p>"},
		{To: "e@x.org", Subject: "Vote", Body: "Thursday", HTML: "<p>Thursday</p>", Attachments: ics},
		{To: "f@x.org", Subject: "Vote", Body: "Thursday", HTML: "<p>Thursday</p>"},
		{To: "g@x.org", Subject: "Vote", Body: "Thursday", HTML: "<p>Thursday</p>", Attachments: ics},
		// The same bytes split differently between the parts.
		{To: "h@x.org", Subject: "Vote", Body: "Thursday<p>", HTML: "Thursday</p>"},
	}
	var sends []send
	for _, r := range reqs {
		sends = append(sends, send{job: &job{req: r}})
	}
	var got [][]string
	for _, g := range m.byContent(sends) {
		var to []string
		for _, s := range g {
			to = append(to, s.job.req.To)
		}
		got = append(got, to)
	}
	want := [][]string{{"a@x.org", "b@x.org", "f@x.org"}, {"c@x.org"}, {"d@x.org"}, {"e@x.org", "g@x.org"}, {"h@x.org"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("groups = %v, want %v", got, want)
	}
}
