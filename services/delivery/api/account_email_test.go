package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/shared/svcauth"
)

type recordingSender struct{ batches []sendgrid.Batch }

func (s *recordingSender) Send(_ context.Context, b sendgrid.Batch) (string, error) {
	s.batches = append(s.batches, b)
	return "sg-1", nil
}

func postAccountEmail(t *testing.T, h *AccountEmails, caller, body string) *httptest.ResponseRecorder {
	t.Helper()
	r := chi.NewRouter()
	h.Routes(r)
	req := httptest.NewRequest(http.MethodPost, AccountEmailPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if caller != "" {
		req = req.WithContext(svcauth.WithCaller(req.Context(), caller))
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

// TestAccountEmailIsTheConsolesAlone: one email to one organizer, sent
// at once and only for the console; without SendGrid, 503 so the console
// falls back.
func TestAccountEmailIsTheConsolesAlone(t *testing.T) {
	const ok = `{"to": "rosa@example.org", "subject": "You are invited", "text": "Choose your password: https://console.example.org/account/set-password?token=x"}`
	snd := &recordingSender{}
	h := NewAccountEmails(snd, Senders{SMSFrom: "+15550001111"}, zaptest.NewLogger(t))
	if w := postAccountEmail(t, h, "campaigns", ok); w.Code != http.StatusForbidden || len(snd.batches) != 0 {
		t.Errorf("campaigns sending account email = %d, want 403", w.Code)
	}
	for name, body := range map[string]string{
		"no address":    `{"to": "", "subject": "s", "text": "t"}`,
		"two addresses": `{"to": "a@example.org, b@example.org", "subject": "s", "text": "t"}`,
		"header break":  `{"to": "a@example.org", "subject": "s\r\nBcc: x@example.org", "text": "t"}`,
		"no text":       `{"to": "a@example.org", "subject": "s", "text": " "}`,
	} {
		if w := postAccountEmail(t, h, "console", body); w.Code != http.StatusBadRequest {
			t.Errorf("%s = %d %s, want 400", name, w.Code, w.Body)
		}
	}
	if len(snd.batches) != 0 {
		t.Fatalf("refused requests sent %d emails", len(snd.batches))
	}
	if w := postAccountEmail(t, h, "console", ok); w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), "sg-1") {
		t.Fatalf("the console's request = %d %s, want 202", w.Code, w.Body)
	}
	if len(snd.batches) != 1 || len(snd.batches[0].Recipients) != 1 || snd.batches[0].Recipients[0].Email != "rosa@example.org" || snd.batches[0].Subject != "You are invited" {
		t.Fatalf("sent %+v, want one email to rosa", snd.batches)
	}
	off := NewAccountEmails(nil, Senders{}, zaptest.NewLogger(t))
	if w := postAccountEmail(t, off, "console", ok); w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "not configured") {
		t.Fatalf("without SendGrid = %d %s, want 503 saying so", w.Code, w.Body)
	}
}
