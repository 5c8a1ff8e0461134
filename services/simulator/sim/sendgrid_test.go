package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"
)

var restClient = &rest.Client{HTTPClient: &http.Client{Timeout: 10 * time.Second}}

func sendMail(t *testing.T, serverURL, key string, body []byte) *rest.Response {
	t.Helper()
	req := sendgrid.GetRequest(key, "/v3/mail/send", serverURL)
	req.Method = rest.Post
	req.Body = body
	resp, err := restClient.Send(req)
	if err != nil {
		t.Fatalf("send mail: %v", err)
	}
	return resp
}

func TestSendGridMailSend(t *testing.T) {
	h := newHarness(t, Config{})
	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail("Muster", "team@muster.example"))
	m.Subject = "Practice update"
	m.AddContent(mail.NewContent("text/plain", "See you at 6"), mail.NewContent("text/html", "<p>See you at 6</p>"))
	m.SetHeader("X-Muster-Campaign", "c1")
	m.SetCustomArg("campaign_id", "c1")

	p1 := mail.NewPersonalization()
	p1.AddTos(mail.NewEmail("Ann", "ann@example.com"), mail.NewEmail("", "bob@example.com"))
	p1.SetCustomArg("contact_id", "k1")
	p2 := mail.NewPersonalization()
	p2.AddTos(mail.NewEmail("Cy", "cy@example.com"))
	p2.Subject = "Practice update for Cy"
	p2.SetHeader("X-Muster-Campaign", "override")
	p2.SetCustomArg("campaign_id", "c1-cy")
	m.AddPersonalizations(p1, p2)

	resp := sendMail(t, h.srv.URL, testKey, mail.GetRequestBody(m))
	if resp.StatusCode != http.StatusAccepted || resp.Body != "" {
		t.Fatalf("answer = %d %q, want 202 and empty body", resp.StatusCode, resp.Body)
	}
	ids := resp.Headers["X-Message-Id"]
	if len(ids) != 1 || !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(ids[0]) {
		t.Fatalf("X-Message-Id = %v", ids)
	}

	want := []Email{
		{To: "ann@example.com", Subject: "Practice update", CustomArgs: map[string]string{"campaign_id": "c1", "contact_id": "k1"},
			Headers: map[string]string{"X-Muster-Campaign": "c1"}},
		{To: "bob@example.com", Subject: "Practice update", CustomArgs: map[string]string{"campaign_id": "c1", "contact_id": "k1"},
			Headers: map[string]string{"X-Muster-Campaign": "c1"}},
		{To: "cy@example.com", Subject: "Practice update for Cy", CustomArgs: map[string]string{"campaign_id": "c1-cy"},
			Headers: map[string]string{"X-Muster-Campaign": "override"}},
	}
	got := h.sim.Emails()
	if len(got) != len(want) {
		t.Fatalf("recorded %d emails, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.MessageID != ids[0] || g.To != w.To || g.From != "team@muster.example" || g.Subject != w.Subject ||
			g.Text != "See you at 6" || g.HTML != "<p>See you at 6</p>" ||
			!sameMap(g.CustomArgs, w.CustomArgs) || !sameMap(g.Headers, w.Headers) || g.CreatedAt.IsZero() {
			t.Errorf("email %d = %+v, want %+v", i, g, w)
		}
	}

	// The HTTP view matches, and DELETE clears.
	var out struct {
		Emails []Email `json:"emails"`
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/emails", nil, &out); code != http.StatusOK || len(out.Emails) != 3 ||
		out.Emails[2].To != "cy@example.com" {
		t.Errorf("GET /sim/emails = %d %+v", code, out)
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/emails?at=2,0", nil, &out); code != http.StatusOK || len(out.Emails) != 2 ||
		out.Emails[0].To != "cy@example.com" || out.Emails[1].To != "ann@example.com" {
		t.Errorf("GET /sim/emails?at=2,0 = %d %+v", code, out)
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/emails?at=x", nil, nil); code != http.StatusBadRequest {
		t.Errorf("GET /sim/emails?at=x = %d, want 400", code)
	}
	if code := doJSON(t, http.MethodDelete, h.srv.URL+"/sim/emails", nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE status = %d", code)
	}
	if n := len(h.sim.Emails()); n != 0 {
		t.Errorf("%d emails after DELETE", n)
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestSendGridTemplateWithoutContent(t *testing.T) {
	h := newHarness(t, Config{})
	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail("", "team@muster.example"))
	m.SetTemplateID("d-123")
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail("", "ann@example.com"))
	p.SetDynamicTemplateData("first_name", "Ann")
	m.AddPersonalizations(p)
	if resp := sendMail(t, h.srv.URL, testKey, mail.GetRequestBody(m)); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status = %d %s, want 202", resp.StatusCode, resp.Body)
	}
	got := h.sim.Emails()
	if len(got) != 1 || got[0].TemplateID != "d-123" || got[0].DynamicTemplateData["first_name"] != "Ann" {
		t.Errorf("emails = %+v", got)
	}
}

func TestSendGridAuth(t *testing.T) {
	h := newHarness(t, Config{})
	// An empty SendGridKey accepts any bearer token.
	openSim := New(Config{}, nil)
	open := httptest.NewServer(openSim.Handler())
	t.Cleanup(func() { open.Close(); openSim.Close() })
	body := validMail()
	tests := []struct {
		name string
		url  string
		key  string
		want int
	}{
		{"right key", h.srv.URL, testKey, http.StatusAccepted},
		{"wrong key", h.srv.URL, "SG.wrong", http.StatusUnauthorized},
		{"empty key", h.srv.URL, "", http.StatusUnauthorized},
		{"any key when unset", open.URL, "SG.anything", http.StatusAccepted},
		{"still needs a key when unset", open.URL, "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := sendMail(t, tt.url, tt.key, body)
			if resp.StatusCode != tt.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusUnauthorized {
				return
			}
			var e sgErrors
			if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Message == "" {
				t.Errorf("401 body = %q (%v)", resp.Body, err)
			}
		})
	}
	if n := len(h.sim.Emails()); n != 1 {
		t.Errorf("recorded %d emails, want 1 (only the authorized send)", n)
	}
}

func validMail() []byte {
	m := mail.NewV3MailInit(mail.NewEmail("", "team@muster.example"), "Hi",
		mail.NewEmail("", "ann@example.com"), mail.NewContent("text/plain", "hello"))
	return mail.GetRequestBody(m)
}

func TestSendGridValidation(t *testing.T) {
	base := func() *mail.SGMailV3 {
		m := mail.NewV3Mail()
		m.SetFrom(mail.NewEmail("", "team@muster.example"))
		m.Subject = "Hi"
		m.AddContent(mail.NewContent("text/plain", "hello"))
		p := mail.NewPersonalization()
		p.AddTos(mail.NewEmail("", "ann@example.com"))
		m.AddPersonalizations(p)
		return m
	}
	many := base()
	for range 1000 {
		p := mail.NewPersonalization()
		p.AddTos(mail.NewEmail("", "x@example.com"))
		many.AddPersonalizations(p)
	}
	exactly1000 := base()
	for range 999 {
		p := mail.NewPersonalization()
		p.AddTos(mail.NewEmail("", "x@example.com"))
		exactly1000.AddPersonalizations(p)
	}
	perPersonalizationFrom := base()
	perPersonalizationFrom.From = nil
	perPersonalizationFrom.Personalizations[0].From = mail.NewEmail("", "coach@muster.example")

	tests := []struct {
		name       string
		body       []byte
		wantFields []string // nil means 202
	}{
		{"valid", mail.GetRequestBody(base()), nil},
		{"1000 personalizations", mail.GetRequestBody(exactly1000), nil},
		{"from in personalization", mail.GetRequestBody(perPersonalizationFrom), nil},
		{"no personalizations", mail.GetRequestBody(func() *mail.SGMailV3 { m := base(); m.Personalizations = nil; return m }()),
			[]string{"personalizations"}},
		{"1001 personalizations", mail.GetRequestBody(many), []string{"personalizations"}},
		{"personalization without to", mail.GetRequestBody(func() *mail.SGMailV3 {
			m := base()
			m.AddPersonalizations(mail.NewPersonalization())
			return m
		}()), []string{"personalizations.1.to"}},
		{"to without email", mail.GetRequestBody(func() *mail.SGMailV3 {
			m := base()
			m.Personalizations[0].AddTos(mail.NewEmail("Nobody", ""))
			return m
		}()), []string{"personalizations.0.to.1.email"}},
		{"no from", mail.GetRequestBody(func() *mail.SGMailV3 { m := base(); m.From = nil; return m }()), []string{"from.email"}},
		{"no content or template", mail.GetRequestBody(func() *mail.SGMailV3 { m := base(); m.Content = nil; return m }()),
			[]string{"content"}},
		{"several problems", mail.GetRequestBody(func() *mail.SGMailV3 {
			m := base()
			m.From, m.Content = nil, nil
			return m
		}()), []string{"from.email", "content"}},
		{"not json", []byte("{"), []string{""}},
	}
	h := newHarness(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.sim.ResetEmails()
			resp := sendMail(t, h.srv.URL, testKey, tt.body)
			if tt.wantFields == nil {
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("status = %d %s, want 202", resp.StatusCode, resp.Body)
				}
				if len(h.sim.Emails()) == 0 {
					t.Error("accepted mail not recorded")
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400", resp.StatusCode)
			}
			var e struct {
				Errors []struct {
					Message string  `json:"message"`
					Field   *string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &e); err != nil {
				t.Fatalf("decode %q: %v", resp.Body, err)
			}
			if len(e.Errors) != len(tt.wantFields) {
				t.Fatalf("errors = %s, want fields %v", resp.Body, tt.wantFields)
			}
			for i, f := range tt.wantFields {
				got := ""
				if e.Errors[i].Field != nil {
					got = *e.Errors[i].Field
				}
				if got != f || e.Errors[i].Message == "" {
					t.Errorf("error %d = %+v, want field %q", i, e.Errors[i], f)
				}
			}
			if n := len(h.sim.Emails()); n != 0 {
				t.Errorf("rejected mail recorded %d emails", n)
			}
		})
	}
}

// fullBatch is a mail/send body as delivery sends it: 1,000
// personalizations, each with its own ids, List-Unsubscribe headers and
// unsubscribe link.
func fullBatch() []byte {
	var b strings.Builder
	b.WriteString(`{"from":{"name":"Muster","email":"alerts@example.org"},"subject":"Contract vote Thursday","personalizations":[`)
	for i := range maxPersonalizations {
		if i > 0 {
			b.WriteByte(',')
		}
		link := fmt.Sprintf("http://127.0.0.1:8083/unsubscribe?t=bWVtYmVyJWRAbG9jYWwxMTk5Lm9yZwo%d.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", i)
		fmt.Fprintf(&b, `{"to":[{"email":"member%d@local1199.org"}],"headers":{"List-Unsubscribe":"<%s>","List-Unsubscribe-Post":"List-Unsubscribe=One-Click"},`+
			`"substitutions":{"-unsubscribe_url-":"%s"},"custom_args":{"message_id":"5f0c7a2e-1f7b-4a8e-9d5c-%012d","campaign_id":"00000000-0000-4000-8000-000000000002","contact_id":"%d"}}`,
			i, link, link, i, i)
	}
	b.WriteString(`],"content":[{"type":"text/plain","value":"Vote at the union hall, 5pm.\n\nUnsubscribe: -unsubscribe_url-"},` +
		`{"type":"text/html","value":"<p>Vote at the union hall, 5pm.</p><p><a href=\"-unsubscribe_url-\">Unsubscribe</a></p>"}]}`)
	return []byte(b.String())
}

// BenchmarkMailSend is the simulator's cost for one full batch: decode,
// validate and record 1,000 recipients.
func BenchmarkMailSend(b *testing.B) {
	s := New(Config{SendGridKey: "SG.test"}, nil)
	defer s.Close()
	h := s.Handler()
	body := fullBatch()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v3/mail/send", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer SG.test")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			b.Fatalf("mail/send = %d: %s", rec.Code, rec.Body)
		}
	}
	b.ReportMetric(float64(s.EmailCount())/b.Elapsed().Seconds(), "emails/s")
}
