package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/mail"
)

// twoRecipients is a mail to ann and bob in one personalization.
func twoRecipients() []byte {
	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail("", "team@muster.example"))
	m.Subject = "Hi"
	m.AddContent(mail.NewContent("text/plain", "hello"))
	p := mail.NewPersonalization()
	p.AddTos(mail.NewEmail("", "ann@example.com"), mail.NewEmail("", "bob@example.com"))
	m.AddPersonalizations(p)
	return mail.GetRequestBody(m)
}

// TestEmailFaultKinds checks each SendGrid fault as sendgrid-go's client
// sees it and whether the emails were recorded and got events.
func TestEmailFaultKinds(t *testing.T) {
	tests := []struct {
		name          string
		fault         Fault
		clientTimeout time.Duration
		wantStatus    int // 0 means the client gave up
		wantMessage   string
		wantField     string
		wantRecorded  bool
	}{
		{name: "429", fault: Fault{Kind: FaultRateLimited}, wantStatus: 429, wantMessage: "too many requests"},
		{name: "500", fault: Fault{Kind: FaultServerError}, wantStatus: 500, wantMessage: "internal server error"},
		{name: "401", fault: Fault{Kind: FaultUnauthorized}, wantStatus: 401, wantMessage: unauthorizedMessage},
		{name: "403", fault: Fault{Kind: FaultForbidden}, wantStatus: 403, wantMessage: "access forbidden"},
		{name: "400 for the matched recipient", fault: Fault{To: "Bob@Example.com", Kind: FaultInvalidEmail}, wantStatus: 400,
			wantMessage: "Does not contain a valid address.", wantField: "personalizations.0.to.1.email"},
		{name: "400 for any recipient", fault: Fault{Kind: FaultInvalidEmail}, wantStatus: 400,
			wantMessage: "Does not contain a valid address.", wantField: "personalizations.0.to.0.email"},
		{name: "503 after accept", fault: Fault{Kind: FaultUnavailableAfterAccept}, wantStatus: 503,
			wantMessage: "service unavailable", wantRecorded: true},
		{name: "timeout after accept", fault: Fault{Kind: FaultTimeoutAfterAccept}, clientTimeout: 300 * time.Millisecond,
			wantRecorded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eh := newEventHook(t)
			h := newHarness(t, Config{EventWebhookURL: eh.srv.URL, AutoEmailEvents: true})
			h.sim.SetEmailFaults([]Fault{tt.fault})
			rc := restClient
			if tt.clientTimeout > 0 {
				rc = &rest.Client{HTTPClient: &http.Client{Timeout: tt.clientTimeout}}
			}
			req := sendgrid.GetRequest(testKey, "/v3/mail/send", h.srv.URL)
			req.Method = rest.Post
			req.Body = twoRecipients()
			resp, err := rc.Send(req)

			if tt.wantStatus == 0 {
				var ue *url.Error
				if !errors.As(err, &ue) || !ue.Timeout() {
					t.Fatalf("err = %v, want a client timeout", err)
				}
			} else {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				var body struct {
					Errors []struct {
						Message string  `json:"message"`
						Field   *string `json:"field"`
					} `json:"errors"`
				}
				if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
					t.Fatalf("decode %q: %v", resp.Body, err)
				}
				if resp.StatusCode != tt.wantStatus || len(body.Errors) != 1 || body.Errors[0].Message != tt.wantMessage {
					t.Errorf("answer = %d %s, want %d %q", resp.StatusCode, resp.Body, tt.wantStatus, tt.wantMessage)
				}
				if got := deref(body.Errors[0].Field); tt.wantField != "" && got != tt.wantField {
					t.Errorf("field = %s, want %s", got, tt.wantField)
				}
				if len(resp.Headers["X-Message-Id"]) != 0 {
					t.Errorf("failed send has X-Message-Id %v", resp.Headers["X-Message-Id"])
				}
				if tt.wantStatus == 429 {
					reset, err := strconv.ParseInt(http.Header(resp.Headers).Get("X-RateLimit-Reset"), 10, 64)
					if err != nil || reset < time.Now().Unix() || http.Header(resp.Headers).Get("X-RateLimit-Remaining") != "0" {
						t.Errorf("rate limit headers = %v", resp.Headers)
					}
				}
			}

			emails := h.sim.Emails()
			if !tt.wantRecorded {
				if len(emails) != 0 {
					t.Errorf("rejected mail recorded: %+v", emails)
				}
			} else {
				if len(emails) != 2 || emails[0].Fault != tt.fault.Kind || emails[1].Fault != tt.fault.Kind {
					t.Fatalf("emails = %+v, want two with fault %s", emails, tt.fault.Kind)
				}
				// It went out, so its events come.
				p := eh.next(t)
				if evs := p.events(t); len(evs) != 4 || !verify(t, h.sim.SendGridPublicKey(), p) {
					t.Errorf("events = %s, want 4 signed", p.Body)
				}
			}
			if st := h.sim.EmailFaults(); len(st) != 1 || st[0].Fired != 1 {
				t.Errorf("fault states = %+v, want fired once", st)
			}
		})
	}
}

func TestEmailFaultMatching(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.SetEmailFaults([]Fault{
		{To: "cy@example.com", Kind: FaultInvalidEmail},
		{Every: 2, Count: 1, Kind: FaultServerError},
	})
	sends := []struct {
		to   string
		want int
	}{
		{"ann@example.com", 202}, // rule 1 sees 1
		{"CY@example.com", 400},  // rule 0, whatever the case
		{"bob@example.com", 500}, // rule 1 sees 2 and fires; now used up
		{"bob@example.com", 202},
		{"cy@example.com", 400},
	}
	for i, s := range sends {
		m := mail.NewV3MailInit(mail.NewEmail("", "team@muster.example"), "Hi",
			mail.NewEmail("", s.to), mail.NewContent("text/plain", "hello"))
		if resp := sendMail(t, h.srv.URL, testKey, mail.GetRequestBody(m)); resp.StatusCode != s.want {
			t.Errorf("send %d to %s = %d, want %d", i, s.to, resp.StatusCode, s.want)
		}
	}
	st := h.sim.EmailFaults()
	if st[0].Seen != 2 || st[0].Fired != 2 || st[1].Seen != 2 || st[1].Fired != 1 {
		t.Errorf("states = %+v", st)
	}
	if n := len(h.sim.Emails()); n != 2 {
		t.Errorf("recorded %d emails, want 2", n)
	}
}

// TestEmailRateLimitRetry checks sendgrid-go's retrying helper waits out a
// simulated 429 and the mail is then recorded once.
func TestEmailRateLimitRetry(t *testing.T) {
	h := newHarness(t, Config{})
	h.sim.SetEmailFaults([]Fault{{Count: 1, Kind: FaultRateLimited}})
	req := sendgrid.GetRequest(testKey, "/v3/mail/send", h.srv.URL)
	req.Method = rest.Post
	req.Body = validMail()
	resp, err := sendgrid.MakeRequestRetryWithContext(t.Context(), req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("MakeRequestRetry = %v, %v", resp, err)
	}
	if n := len(h.sim.Emails()); n != 1 {
		t.Errorf("recorded %d emails, want 1", n)
	}
	if st := h.sim.EmailFaults(); st[0].Fired != 1 || st[0].Seen != 1 {
		t.Errorf("states = %+v", st)
	}
}
