package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// AccountEmailPath is where the console asks for one account email: an
// organizer's invitation or password-reset link.
const AccountEmailPath = "/account-emails"

// SendersPath describes who members' texts and emails come from, for the
// console's first-run setup.
const SendersPath = "/senders"

// accountEmailCaller is the only service that may send account email:
// the console owns organizers' accounts.
const accountEmailCaller = "console"

// EmailSender sends one SendGrid mail/send.
type EmailSender interface {
	Send(ctx context.Context, b sendgrid.Batch) (string, error)
}

// Senders says where members' messages come from, as delivery is
// configured: the text sender (a number or a Twilio messaging service)
// and the email sender, and whether email is on at all.
type Senders struct {
	SMSFrom             string `json:"sms_from,omitempty"`
	MessagingServiceSID string `json:"messaging_service_sid,omitempty"`
	EmailFrom           string `json:"email_from,omitempty"`
	EmailFromName       string `json:"email_from_name,omitempty"`
	EmailConfigured     bool   `json:"email_configured"`
}

// AccountEmails sends the console's account emails. They go to organizers,
// not members: they are not campaign messages, are not written to the
// message log (they carry a secret link), and are not held back by the
// member suppression list or quiet hours, so an organizer whose address
// once unsubscribed from member mail can still set a password. A provider
// refusal is the console's to show.
type AccountEmails struct {
	sender  EmailSender // nil when email is not configured
	senders Senders
	log     *zap.Logger
}

// NewAccountEmails serves account email through sender (nil: email is not
// configured, and every request is answered 503 so the console can fall
// back).
func NewAccountEmails(sender EmailSender, senders Senders, log *zap.Logger) *AccountEmails {
	senders.EmailConfigured = sender != nil
	return &AccountEmails{sender: sender, senders: senders, log: log}
}

// Routes mounts the routes on r; both need service credentials.
func (h *AccountEmails) Routes(r chi.Router) {
	r.Get(SendersPath, h.describe)
	r.Post(AccountEmailPath, h.send)
}

func (h *AccountEmails) describe(w http.ResponseWriter, _ *http.Request) {
	web.WriteJSON(w, http.StatusOK, h.senders)
}

// AccountEmail is one email to one organizer.
type AccountEmail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// maxAccountEmail bounds an account email's text; they are a few lines.
const maxAccountEmail = 20000

func (h *AccountEmails) send(w http.ResponseWriter, r *http.Request) {
	var in AccountEmail
	if err := web.DecodeJSON(r, &in); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	// Any trusted service reaches the route (the guard checked its
	// token); only the console may have an email sent.
	if caller := svcauth.Caller(r.Context()); caller != accountEmailCaller {
		web.WriteError(w, r, h.log, apperr.Forbidden("only the console sends account email"))
		return
	}
	in.To = strings.TrimSpace(in.To)
	switch {
	case in.To == "" || !strings.Contains(in.To, "@") || strings.ContainsAny(in.To, " \r\n,;<>"):
		web.WriteError(w, r, h.log, apperr.Invalid("to", "is not an email address"))
		return
	case strings.TrimSpace(in.Subject) == "" || strings.ContainsAny(in.Subject, "\r\n"):
		web.WriteError(w, r, h.log, apperr.Invalid("subject", "want one line"))
		return
	case strings.TrimSpace(in.Text) == "":
		web.WriteError(w, r, h.log, apperr.Invalid("text", "is empty"))
		return
	case len(in.Text)+len(in.HTML) > maxAccountEmail:
		web.WriteError(w, r, h.log, apperr.Invalid("text", "is longer than %d bytes", maxAccountEmail))
		return
	}
	if h.sender == nil {
		web.WriteError(w, r, h.log, apperr.Unavailable(nil, "email is not configured: set DELIVERY_SENDGRID_API_KEY"))
		return
	}
	id, err := h.sender.Send(r.Context(), sendgrid.Batch{
		Subject: in.Subject, Text: in.Text, HTML: in.HTML,
		Recipients: []sendgrid.Recipient{{Email: in.To, CustomArgs: []sendgrid.Field{{Name: "kind", Value: "account"}}}},
	})
	if err != nil {
		h.log.Warn("account email not sent", logging.Email("to", in.To), zap.Error(err))
		web.WriteError(w, r, h.log, apperr.Unavailable(err, "the email provider did not take the email"))
		return
	}
	h.log.Info("account email sent", logging.Email("to", in.To), zap.String("provider_id", id))
	web.WriteJSON(w, http.StatusAccepted, map[string]string{"provider_id": id})
}
