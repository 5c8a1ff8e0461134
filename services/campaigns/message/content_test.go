package message

import (
	"encoding/json"
	"html"
	"strings"
	"testing"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/events"
)

// merge is what delivery and SendGrid make of a request naming stored
// content: the member's values in place of the tags, escaped in the HTML.
func merge(t *testing.T, shared []Shared, req events.SendRequested) events.SendRequested {
	t.Helper()
	var c events.Content
	for _, s := range shared {
		if s.Ref == req.ContentRef {
			if events.RefOf(s.Data) != s.Ref {
				t.Fatalf("content %s hashes otherwise", s.Ref)
			}
			if err := json.Unmarshal(s.Data, &c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(c.Merge) != len(req.MergeValues) {
		t.Fatalf("%d values for %d slots (ref %q)", len(req.MergeValues), len(c.Merge), req.ContentRef)
	}
	var text, markup []string
	for i, v := range req.MergeValues {
		text = append(text, events.MergeTag(i, false), v)
		markup = append(markup, events.MergeTag(i, true), html.EscapeString(v))
	}
	tr, hr := strings.NewReplacer(text...), strings.NewReplacer(markup...)
	req.Subject, req.Body, req.HTML, req.Attachments = tr.Replace(c.Subject), tr.Replace(c.Text), hr.Replace(c.HTML), c.Attachments
	req.ContentRef, req.MergeValues = "", nil
	return req
}

// Content stored once and merged per member is exactly the email the
// member would have been sent inline: member fields with and without
// defaults, the organizer's name and its fallback, signed links, names
// that are HTML-special, an HTML part made from the text, languages.
func TestSharedContentMergesToTheInlineEmail(t *testing.T) {
	d := campaign.Draft{
		Name: "Vote", Kind: campaign.KindMeeting, Channel: campaign.ChannelsEmail,
		Email: &campaign.Email{
			Subject: "{{first_name|friend}}, {{meeting_title}}",
			Text:    "Hi {{first_name}} {{last_name}} ({{full_name}}), {{organizer_first_name}} says: meet at {{meeting_place}}.\n\nRSVP: {{rsvp_link}} — {{org_name}} {{worksite|your site}}",
		},
		Content: map[string]campaign.Content{"es": {Email: &campaign.Email{
			Subject: "Hola {{first_name|compa}}",
			Text:    "Hola {{first_name}}",
			HTML:    `<p>Hola <b>{{first_name}}</b> <a href="{{rsvp_link}}">RSVP</a> {{organizer_first_name|el sindicato}}</p>`,
		}}},
		Audience: campaign.Audience{Tag: "gmm"},
		Meeting:  &campaign.Meeting{Title: "Vote <now>", StartsAt: now.Add(240 * 3600e9), TimeZone: "America/Chicago", Place: "Hall & Annex"},
	}
	c, err := d.Validate(now, "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	c.ID = "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f"
	members := []events.Member{
		{ContactID: "a", FirstName: "Ana", LastName: "Ruiz", Email: "ana@example.org", OrganizerFirstName: "Lu", Fields: map[string]string{"worksite": "North"}},
		{ContactID: "b", FirstName: `<b>&"'`, Email: "odd@example.org"},
		{ContactID: "c", Email: "none@example.org", Language: "es"},
		{ContactID: "d", FirstName: "Dé", LastName: "<x>", Email: "de@example.org", Language: "es", OrganizerFirstName: "Mo & Jo"},
	}
	inline, err := New(&c, campaign.PartMain, 0, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	byRef, err := New(&c, campaign.PartMain, 0, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := byRef.ShareContent()
	if err != nil {
		t.Fatal(err)
	}
	if len(shared) != 2 {
		t.Fatalf("%d contents, want one per language written (2)", len(shared))
	}
	for _, s := range shared {
		if strings.Contains(string(s.Data), "Ana") || strings.Contains(string(s.Data), "/rsvp/") {
			t.Errorf("stored content holds a member's own value: %s", s.Data)
		}
	}
	for i := range members {
		m := &members[i]
		want := inline.Build(m, events.ChannelEmail, now)
		req := byRef.Build(m, events.ChannelEmail, now)
		if req.ContentRef == "" || req.Body != "" || req.HTML != "" || req.Subject != "" {
			t.Fatalf("%s: request carries its content: %+v", m.ContactID, req)
		}
		got := merge(t, shared, req)
		if got.Subject != want.Subject || got.Body != want.Body || got.HTML != want.HTML || len(got.Attachments) != len(want.Attachments) {
			t.Errorf("%s merged:\n%q\n%q\n%q\nwant:\n%q\n%q\n%q", m.ContactID, got.Subject, got.Body, got.HTML, want.Subject, want.Body, want.HTML)
		}
	}
}
