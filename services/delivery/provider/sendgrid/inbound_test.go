package sendgrid

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
)

// inboundPost is a multipart post as Inbound Parse sends it (the field
// set of its documentation: headers, dkim, to, from, text, html, sender_ip,
// spam_report, envelope, attachments, subject, spam_score, charsets, SPF),
// with files as file parts.
func inboundPost(t testing.TB, fields [][2]string, files map[string][]byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range files {
		fw, err := w.CreateFormFile(name, name+".bin")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(content)
	}
	w.Close()
	return &buf, w.FormDataContentType()
}

const replyTo = "reply+0190f3a2-7b1c-7d4e-8f00-0123456789ab@replies.local1199.org"

func parsedFields(text string) [][2]string {
	return [][2]string{
		{"headers", "Received: by mx.sendgrid.net\r\nMessage-ID: <CAB=abc123@mail.gmail.com>\r\nFrom: Ana Ruiz <Ana.Ruiz@Example.org>\r\nTo: " + replyTo + "\r\nSubject: Re: Contract vote\r\n"},
		{"dkim", "{@example.org : pass}"},
		{"to", "Local 1199 <" + replyTo + ">"},
		{"from", "Ana Ruiz <Ana.Ruiz@Example.org>"},
		{"text", text},
		{"html", "<div>" + text + "</div>"},
		{"sender_ip", "209.85.220.41"},
		{"envelope", `{"to":["` + replyTo + `"],"from":"ana.ruiz@example.org"}`},
		{"attachments", "0"},
		{"subject", "Re: Contract vote"},
		{"spam_score", "0.1"},
		{"charsets", `{"to":"UTF-8","html":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"UTF-8"}`},
		{"SPF", "pass"},
	}
}

type gotReply struct{ emails []provider.InboundEmail }

func (g *gotReply) EmailReply(_ context.Context, e provider.InboundEmail) error {
	g.emails = append(g.emails, e)
	return nil
}

func serveInbound(t *testing.T, secret string, body *bytes.Buffer, contentType string) (int, *gotReply) {
	t.Helper()
	got := &gotReply{}
	r := chi.NewRouter()
	NewInboundWebhook([][]byte{[]byte("current-secret-0123456789abcdef0123"), []byte("previous-secret-0123456789abcdef012")}, got, zap.NewNop()).Routes(r)
	req := httptest.NewRequest(http.MethodPost, InboundPrefix+secret, body)
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	return rec.Code, got
}

// parsePost reads a post as the webhook does, for what SendGrid adds
// that the receiver is not handed.
func parsePost(t *testing.T, body *bytes.Buffer, contentType string) InboundPost {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, InboundPrefix+"x", bytes.NewReader(body.Bytes()))
	req.Header.Set("Content-Type", contentType)
	e, err := ParseInbound(httptest.NewRecorder(), req)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestInboundParsedPost(t *testing.T) {
	body, ct := inboundPost(t, parsedFields("unsubscribe\n\nOn Mon wrote:\n> x"), map[string][]byte{"attachment1": bytes.Repeat([]byte{0xff}, 3<<20)})
	post := parsePost(t, body, ct)
	if post.MessageID != "CAB=abc123@mail.gmail.com" || post.SPF != "pass" || post.Attachments != 1 {
		t.Fatalf("post = %+v", post)
	}
	code, got := serveInbound(t, "current-secret-0123456789abcdef0123", body, ct)
	if code != http.StatusOK || len(got.emails) != 1 {
		t.Fatalf("answered %d with %d emails", code, len(got.emails))
	}
	e := got.emails[0]
	if e.From != "ana.ruiz@example.org" || e.Recipients[0] != replyTo ||
		e.Subject != "Re: Contract vote" || !strings.HasPrefix(e.Text, "unsubscribe") {
		t.Fatalf("email = %+v", e)
	}
	if e.Automatic {
		t.Error("a person's reply read as automatic")
	}
	if e.ProviderID != post.Key() || !strings.HasPrefix(e.ProviderID, "email:mid:") {
		t.Errorf("provider id = %q, want the key from the Message-ID", e.ProviderID)
	}
}

func TestInboundPreviousSecretStillAccepted(t *testing.T) {
	body, ct := inboundPost(t, parsedFields("hi"), nil)
	if code, got := serveInbound(t, "previous-secret-0123456789abcdef012", body, ct); code != http.StatusOK || len(got.emails) != 1 {
		t.Fatalf("answered %d", code)
	}
}

func TestInboundRefusals(t *testing.T) {
	ok := func() (*bytes.Buffer, string) { return inboundPost(t, parsedFields("hi"), nil) }
	for name, c := range map[string]struct {
		secret string
		post   func() (*bytes.Buffer, string)
		want   int
	}{
		"wrong secret":  {"current-secret-0123456789abcdef0124", ok, http.StatusNotFound},
		"secret prefix": {"current-secret", ok, http.StatusNotFound},
		"not multipart": {"current-secret-0123456789abcdef0123", func() (*bytes.Buffer, string) {
			return bytes.NewBufferString(`{"text":"stop"}`), "application/json"
		}, http.StatusBadRequest},
		"cut off": {"current-secret-0123456789abcdef0123", func() (*bytes.Buffer, string) {
			b, ct := ok()
			return bytes.NewBuffer(b.Bytes()[:b.Len()/2]), ct
		}, http.StatusBadRequest},
		"no sender": {"current-secret-0123456789abcdef0123", func() (*bytes.Buffer, string) {
			return inboundPost(t, [][2]string{{"to", replyTo}, {"text", "stop"}}, nil)
		}, http.StatusBadRequest},
		"text over a mebibyte": {"current-secret-0123456789abcdef0123", func() (*bytes.Buffer, string) {
			return inboundPost(t, parsedFields(strings.Repeat("a", MaxInboundText+1)), nil)
		}, http.StatusRequestEntityTooLarge},
		"attachments over the post limit": {"current-secret-0123456789abcdef0123", func() (*bytes.Buffer, string) {
			return inboundPost(t, parsedFields("hi"), map[string][]byte{"attachment1": make([]byte, maxInboundPost)})
		}, http.StatusRequestEntityTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			body, ct := c.post()
			code, got := serveInbound(t, c.secret, body, ct)
			if code != c.want || len(got.emails) != 0 {
				t.Fatalf("answered %d with %d emails, want %d and none", code, len(got.emails), c.want)
			}
		})
	}
}

// A text part in another charset is decoded, as charsets says.
func TestInboundCharsets(t *testing.T) {
	fields := parsedFields("")
	for i, f := range fields {
		switch f[0] {
		case "text":
			fields[i][1] = "Ah\xed estar\xe9" // ISO-8859-1
		case "charsets":
			fields[i][1] = `{"to":"UTF-8","subject":"UTF-8","from":"UTF-8","text":"iso-8859-1"}`
		}
	}
	body, ct := inboundPost(t, fields, nil)
	_, got := serveInbound(t, "current-secret-0123456789abcdef0123", body, ct)
	if len(got.emails) != 1 || got.emails[0].Text != "Ahí estaré" {
		t.Fatalf("emails = %+v", got.emails)
	}
}

// With "POST the raw, full MIME message" on, the message comes whole in
// "email": its text part is read, its attachment skipped.
func TestInboundRawPost(t *testing.T) {
	raw := "Message-ID: <raw-1@example.org>\r\nFrom: =?ISO-8859-1?Q?Jos=E9?= <Jose@Example.org>\r\nTo: " + replyTo + "\r\n" +
		"Subject: Re: Vote\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n" +
		"--b2\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPlease take me off this list=\r\n.\r\n\r\n> Unsubscribe\r\n" +
		"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Please take me off this list.</p>\r\n--b2--\r\n" +
		"--b1\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"a.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1--\r\n"
	body, ct := inboundPost(t, [][2]string{{"email", raw}, {"envelope", `{"to":["` + replyTo + `"],"from":"jose@example.org"}`}, {"SPF", "pass"}}, nil)
	if post := parsePost(t, body, ct); post.MessageID != "raw-1@example.org" || post.Attachments != 1 {
		t.Fatalf("post = %+v", post)
	}
	code, got := serveInbound(t, "current-secret-0123456789abcdef0123", body, ct)
	if code != http.StatusOK || len(got.emails) != 1 {
		t.Fatalf("answered %d with %d emails", code, len(got.emails))
	}
	e := got.emails[0]
	if e.From != "jose@example.org" || strings.TrimSpace(strings.ReplaceAll(e.Text, "\r\n", "\n")) != "Please take me off this list.\n\n> Unsubscribe" || e.Recipients[0] != replyTo {
		t.Fatalf("email = %+v", e)
	}
}

func TestHTMLTextCutsTheQuote(t *testing.T) {
	got := htmlText(`<div dir="ltr">Remove me&nbsp;please<br></div><br><div class="gmail_quote"><div>On Mon wrote:</div><blockquote>Unsubscribe</blockquote></div>`)
	if strings.Contains(got, "Unsubscribe") || !strings.Contains(got, "Remove me please") {
		t.Fatalf("htmlText = %q", got)
	}
}

// An out-of-office answer says so in its headers (RFC 3834).
func TestInboundAutomaticReplies(t *testing.T) {
	for hdr, want := range map[string]bool{
		"Auto-Submitted: auto-replied\r\n": true, "Auto-Submitted: no\r\n": false, "Precedence: bulk\r\n": true,
		"X-Autoreply: yes\r\n": true, "": false,
	} {
		fields := parsedFields("I am out of the office until Monday.")
		fields[0][1] += hdr
		body, ct := inboundPost(t, fields, nil)
		_, got := serveInbound(t, "current-secret-0123456789abcdef0123", body, ct)
		if len(got.emails) != 1 || got.emails[0].Automatic != want {
			t.Errorf("with %q: automatic = %v, want %v", hdr, got.emails[0].Automatic, want)
		}
	}
}
