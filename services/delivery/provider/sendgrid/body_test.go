package sendgrid

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/sendgrid/sendgrid-go/helpers/mail"
)

// helperBody is the body sendgrid-go's own mail helpers build for a batch:
// what body must match.
func helperBody(fromName, fromEmail string, b Batch) []byte {
	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail(fromName, fromEmail))
	m.Subject = b.Subject
	if b.ReplyTo != "" {
		m.SetReplyTo(mail.NewEmail("", b.ReplyTo))
	}
	if b.Text != "" {
		m.AddContent(mail.NewContent("text/plain", b.Text))
	}
	if b.HTML != "" {
		m.AddContent(mail.NewContent("text/html", b.HTML))
	}
	for _, a := range b.Attachments {
		m.AddAttachment(mail.NewAttachment().SetFilename(a.Filename).SetType(a.ContentType).SetContent(a.Content).SetDisposition("attachment"))
	}
	for _, r := range b.Recipients {
		p := mail.NewPersonalization()
		p.AddTos(mail.NewEmail("", r.Email))
		for _, f := range r.CustomArgs {
			p.SetCustomArg(f.Name, f.Value)
		}
		for _, f := range r.Headers {
			p.SetHeader(f.Name, f.Value)
		}
		for _, f := range r.Substitutions {
			p.SetSubstitution(f.Name, f.Value)
		}
		m.AddPersonalizations(p)
	}
	return mail.GetRequestBody(m)
}

func TestBodyMatchesSendGridHelpers(t *testing.T) {
	member := func(email string) Recipient {
		return Recipient{
			Email:         email,
			CustomArgs:    []Field{{Name: "message_id", Value: "5f0c7a2e-1f7b-4a8e-9d5c-3b2a1c0d9e8f"}, {Name: "campaign_id", Value: "00000000-0000-4000-8000-000000000002"}, {Name: "contact_id", Value: ""}},
			Headers:       []Field{{Name: "List-Unsubscribe", Value: "<https://muster.example/unsubscribe?t=abc.def>"}, {Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}},
			Substitutions: []Field{{Name: "-unsubscribe_url-", Value: "https://muster.example/unsubscribe?t=abc.def"}},
		}
	}
	cases := map[string]struct {
		fromName string
		batch    Batch
	}{
		"alert": {"Local 1199", Batch{Subject: "Contract vote Thursday", Text: "Vote at the union hall, 5pm.", HTML: "<p>Vote at the union hall, 5pm.</p>",
			Recipients: []Recipient{member("a@local1199.org"), member("b@local1199.org")}}},
		"reply-to with a substitution tag": {"Local 1199", Batch{Subject: "Contract vote", Text: "Vote", ReplyTo: "reply+-reply_message_id-@replies.local1199.org",
			Recipients: []Recipient{member("a@local1199.org")}}},
		"escapes": {"The \"Union\" \\ Co", Batch{
			Subject: "Tab\there, newline\nthere, \x00\x01\x1f control, </script> & <b>",
			Text:    "Line\r\nbreak \u2028 and \u2029, é, 日本, 🎉, bad \xff\xfe utf-8",
			HTML:    `<a href="x?a=1&b=2">'quoted'</a>`,
			Recipients: []Recipient{{Email: "q\"uote@example.org", CustomArgs: []Field{{Name: "k\"ey", Value: "v\\al"}},
				Headers: []Field{{Name: "X-A", Value: "1"}, {Name: "X-A", Value: "2"}}}}}},
		"html only, attachment": {"", Batch{Subject: "Meeting", HTML: "<p>See you</p>",
			Attachments: []Attachment{{Filename: "invite.ics", ContentType: "text/calendar", Content: "QkVHSU46VkNBTEVOREFS"}},
			Recipients:  []Recipient{{Email: "c@example.org"}}}},
		"text only, two attachments": {"Muster", Batch{Subject: "Files", Text: "Two files",
			Attachments: []Attachment{{Filename: "a.ics", ContentType: "text/calendar", Content: "QQ=="}, {Filename: "b.pdf", ContentType: "application/pdf", Content: "Qg=="}},
			Recipients:  []Recipient{member("d@example.org")}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := body(c.fromName, "alerts@example.org", c.batch)
			want := helperBody(c.fromName, "alerts@example.org", c.batch)
			var g, w any
			if err := json.Unmarshal(got, &g); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, got)
			}
			if err := json.Unmarshal(want, &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("body differs from sendgrid-go's\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// BenchmarkBody is one full batch's body: 1,000 members, each with their
// own ids, headers and link.
func BenchmarkBody(b *testing.B) {
	batch := Batch{Subject: "Contract vote Thursday", Text: "Vote at the union hall, 5pm.\n\nUnsubscribe: -unsubscribe_url-",
		HTML: "<p>Vote at the union hall, 5pm.</p>"}
	for range MaxPersonalizations {
		link := "http://127.0.0.1:8083/unsubscribe?t=bWVtYmVyMUBsb2NhbDExOTkub3JnCjVmMGM3YTJlLTFmN2ItNGE4ZS05ZDVjLTNiMmExYzBkOWU4Zg.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
		batch.Recipients = append(batch.Recipients, Recipient{Email: "member1@local1199.org",
			CustomArgs:    []Field{{Name: "message_id", Value: "5f0c7a2e-1f7b-4a8e-9d5c-3b2a1c0d9e8f"}, {Name: "campaign_id", Value: "00000000-0000-4000-8000-000000000002"}, {Name: "contact_id", Value: "1234"}},
			Headers:       []Field{{Name: "List-Unsubscribe", Value: "<" + link + ">"}, {Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"}},
			Substitutions: []Field{{Name: "-unsubscribe_url-", Value: link}}})
	}
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			body("Muster", "alerts@example.org", batch)
		}
	})
	b.Run("helpers", func(b *testing.B) {
		for b.Loop() {
			helperBody("Muster", "alerts@example.org", batch)
		}
	})
}
