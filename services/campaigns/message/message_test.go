package message

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/token"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/secret"
)

var now = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)

func meeting(t *testing.T) campaign.Campaign {
	t.Helper()
	d := campaign.Draft{
		Name: "Stewards prep (internal)", Kind: campaign.KindMeeting, Channel: campaign.ChannelsBoth,
		Body:     "Hi {{first_name|friend}}, {{meeting_title}} is {{meeting_time}} at {{meeting_place}}. Reply YES or NO.",
		Email:    &campaign.Email{Subject: "{{meeting_title}}", Text: "Hi {{first_name}}, RSVP: {{rsvp_link}}", HTML: `<p>Hi {{first_name}}, <a href="{{rsvp_link}}">RSVP</a></p>`},
		Audience: campaign.Audience{Tag: "gmm"},
		Content:  map[string]campaign.Content{"es": {SMS: "Hola {{first_name|compa}}, {{meeting_title}} es el {{meeting_time}}."}},
		Meeting:  &campaign.Meeting{Title: "December GMM", StartsAt: time.Date(2026, 12, 10, 23, 0, 0, 0, time.UTC), TimeZone: "America/Chicago", Place: "Union Hall & Annex"},
	}
	c, err := d.Validate(now, "America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	c.ID = "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f"
	return c
}

func settings() Settings {
	return Settings{OrgName: "Local 1199", Links: NewLinks(token.NewSigner(oneKey("0123456789abcdef0123456789abcdef")), "https://act.example.org/", 30*24*time.Hour)}
}

func TestBuildChoosesLanguageAndFillsFields(t *testing.T) {
	c := meeting(t)
	b, err := New(&c, campaign.PartMain, 0, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	ana := events.Member{ContactID: "0b7e4c1d-2a3f-4b5c-8d9e-0f1a2b3c4d5e", FirstName: "Ana", Phone: "+12125550101", Email: "ana@example.org", Language: "es-MX", TimeZone: "America/Chicago"}
	sms := b.Build(&ana, events.ChannelSMS, now)
	if want := "Hola Ana, December GMM es el jueves 10 de diciembre, 17:00 CST."; sms.Body != want {
		t.Errorf("Spanish SMS = %q, want %q", sms.Body, want)
	}
	if sms.IdempotencyKey != events.IdempotencyKey(c.ID, 0, ana.ContactID, events.ChannelSMS) || sms.ID != sms.IdempotencyKey ||
		sms.To != ana.Phone || sms.TimeZone != "America/Chicago" || len(sms.Attachments) != 0 {
		t.Errorf("SMS request = %+v", sms)
	}
	bo := events.Member{ContactID: "bo", Phone: "+12125550102", Email: "bo@example.org", Language: "fr"}
	if got := b.Build(&bo, events.ChannelSMS, now).Body; !strings.HasPrefix(got, "Hi friend, December GMM is Thursday, December 10 at 5:00 PM CST at Union Hall & Annex.") {
		t.Errorf("fallback SMS = %q", got)
	}
	// Spanish content has no email: the default language's is used.
	email := b.Build(&ana, events.ChannelEmail, now)
	if email.To != "ana@example.org" || email.Subject != "December GMM" || !strings.Contains(email.Body, "RSVP: https://act.example.org/rsvp/") {
		t.Errorf("email = %+v", email)
	}
	if !strings.Contains(email.HTML, `<a href="https://act.example.org/rsvp/`) {
		t.Errorf("html = %q", email.HTML)
	}
	link := email.Body[strings.Index(email.Body, "/rsvp/")+len("/rsvp/"):]
	claims, err := settings().Links.Signer().Verify(link, now)
	if err != nil || claims.ContactID != ana.ContactID || claims.CampaignID != c.ID || claims.Purpose != token.RSVP ||
		claims.Channel != events.ChannelEmail || !claims.Expires.Equal(c.Meeting.EndsAt()) {
		t.Errorf("rsvp link claims = %+v, %v", claims, err)
	}
	if len(email.Attachments) != 1 || email.Attachments[0].Filename != "meeting.ics" {
		t.Fatalf("attachments = %+v", email.Attachments)
	}
	ics, err := base64.StdEncoding.DecodeString(email.Attachments[0].Content)
	if err != nil || !strings.Contains(string(ics), "DTSTART:20261210T230000Z") || !strings.Contains(string(ics), `LOCATION:Union Hall & Annex`) {
		t.Errorf("calendar = %s, %v", ics, err)
	}
}

func TestEmailValuesAreEscapedInHTML(t *testing.T) {
	c := meeting(t)
	c.Content["en"] = campaign.Content{SMS: "x", Email: &campaign.Email{Subject: "s", Text: "t {{first_name}}"}}
	b, err := New(&c, campaign.PartMain, 0, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	m := events.Member{ContactID: "x", FirstName: "<b>Bo</b>", Email: "bo@example.org"}
	req := b.Build(&m, events.ChannelEmail, now)
	if req.Body != "t <b>Bo</b>" || !strings.Contains(req.HTML, "t &lt;b&gt;Bo&lt;/b&gt;") {
		t.Errorf("text %q / generated html %q", req.Body, req.HTML)
	}
}

func TestPartsUseDefaultsAndNotices(t *testing.T) {
	c := meeting(t)
	m := events.Member{ContactID: "x", FirstName: "Cy", Phone: "+12125550103", Email: "cy@example.org"}
	rem, err := New(&c, campaign.PartReminder, 1, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	if got := rem.Build(&m, events.ChannelSMS, now); !strings.HasPrefix(got.Body, "Reminder from Local 1199: December GMM is Thursday") || got.Step != 1 {
		t.Errorf("reminder = %+v", got)
	}
	if got := rem.Build(&m, events.ChannelEmail, now); len(got.Attachments) != 0 || !strings.Contains(got.Body, "/rsvp/") {
		t.Errorf("reminder email = %+v", got)
	}
	cancel, err := New(&c, campaign.PartCancel, 4, "{{meeting_title}} is off: the hall flooded.", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	got := cancel.Build(&m, events.ChannelEmail, now)
	if got.Body != "December GMM is off: the hall flooded." || !strings.HasPrefix(got.Subject, "Cancelled: ") {
		t.Errorf("cancel email = %+v", got)
	}
	ics, _ := base64.StdEncoding.DecodeString(got.Attachments[0].Content)
	if !strings.Contains(string(ics), "METHOD:CANCEL") {
		t.Errorf("cancel calendar = %s", ics)
	}
	yes, err := New(&c, campaign.PartYes, -1, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	if yes.Has(events.ChannelEmail) || !yes.Has(events.ChannelSMS) {
		t.Error("an auto-reply is a text only")
	}
	if r := yes.BuildKeyed(&m, events.ChannelSMS, "k", now); r.Body != "Thanks, Cy! You're on the list for December GMM, Thursday, December 10 at 5:00 PM CST." || r.IdempotencyKey != "k" {
		t.Errorf("yes reply = %+v", r)
	}
}

// The campaign's name is for organizers only: a meeting without a title of
// its own is "the meeting" to members, in the auto-reply above all (it
// once said "You're on the list for Stewards meeting Tue").
func TestInternalNameNeverReachesMembers(t *testing.T) {
	m := events.Member{ContactID: "x", FirstName: "Cy", Phone: "+12125550103", Language: "es"}
	for _, title := range []string{"", "Stewards meeting Tue"} { // none, and a draft saved when the title defaulted to the name
		c := meeting(t)
		c.Name, c.Meeting.Title = "Stewards meeting Tue", title
		yes, err := New(&c, campaign.PartYes, -1, "", settings(), now)
		if err != nil {
			t.Fatal(err)
		}
		m.Language = ""
		if r := yes.BuildKeyed(&m, events.ChannelSMS, "k", now); r.Body != "Thanks, Cy! You're on the list for the meeting, Thursday, December 10 at 5:00 PM CST." {
			t.Errorf("title %q: yes reply = %q", title, r.Body)
		}
		m.Language = "es"
		if r := yes.BuildKeyed(&m, events.ChannelSMS, "k", now); !strings.Contains(r.Body, "Te esperamos en la reunión,") {
			t.Errorf("title %q: Spanish yes reply = %q", title, r.Body)
		}
		inv, err := New(&c, campaign.PartMain, 0, "", settings(), now)
		if err != nil {
			t.Fatal(err)
		}
		m.Language = ""
		got := inv.Build(&m, events.ChannelEmail, now)
		ics, _ := base64.StdEncoding.DecodeString(got.Attachments[0].Content)
		for _, s := range []string{got.Subject, got.Body, string(ics)} {
			if strings.Contains(s, "Stewards") {
				t.Errorf("title %q: the internal name reached a member: %q", title, s)
			}
		}
		if !strings.Contains(string(ics), "SUMMARY:Local 1199 meeting") {
			t.Errorf("title %q: calendar = %s", title, ics)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	c := campaign.Campaign{ID: "6f1c1a4e-8d2b-4c3a-9e6f-1a2b3c4d5e6f", Kind: campaign.KindPetition, Channel: campaign.ChannelsSMS, DefaultLanguage: "en",
		Content:  map[string]campaign.Content{"en": {SMS: "Hi {{first_name|friend}}, sign for safe staffing: {{sign_link}} or reply {{sign_keyword}}. Reply STOP to opt out."}},
		Petition: &campaign.Petition{Ask: campaign.AskSign, Keyword: "SIGN"}}
	bl, err := New(&c, campaign.PartMain, 0, "", settings(), now)
	if err != nil {
		b.Fatal(err)
	}
	m := events.Member{ContactID: "0b7e4c1d-2a3f-4b5c-8d9e-0f1a2b3c4d5e", FirstName: "Ana", Phone: "+12125550101"}
	b.ReportAllocs()
	for b.Loop() {
		_ = bl.Build(&m, events.ChannelSMS, now)
	}
}

// oneKey is a keyring of one key; the literal keys here are long enough.
func oneKey(k string) secret.Keyring {
	keys, _ := secret.NewKeyring([]byte(k))
	return keys
}
