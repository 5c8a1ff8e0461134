package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/twilio/twilio-go/client"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Webhook paths, relative to the public base URL Twilio is given.
const (
	StatusPath  = "/webhooks/twilio/status"
	InboundPath = "/webhooks/twilio/inbound"
)

// maxWebhookBody bounds a webhook form; Twilio's are a few hundred bytes.
const maxWebhookBody = 64 << 10

// Receiver acts on verified webhooks, mapped into delivery's neutral
// vocabulary. Inbound returns the text to reply with, or "" for no reply.
type Receiver interface {
	Status(ctx context.Context, r provider.StatusReport) error
	Inbound(ctx context.Context, in provider.Inbound) (reply string, err error)
}

// Webhooks verifies and decodes Twilio's webhooks.
type Webhooks struct {
	authToken []byte
	validator client.RequestValidator
	publicURL string
	recv      Receiver
	log       *zap.Logger
}

// NewWebhooks builds the handlers. publicURL is the base URL Twilio was
// given (behind a proxy it differs from what this server sees), and
// signatures are checked against it.
func NewWebhooks(authToken, publicURL string, recv Receiver, log *zap.Logger) *Webhooks {
	return &Webhooks{
		authToken: []byte(authToken),
		validator: client.NewRequestValidator(authToken),
		publicURL: strings.TrimRight(publicURL, "/"),
		recv:      recv,
		log:       log,
	}
}

// StatusCallbackURL is the callback URL to give Twilio for a message.
func StatusCallbackURL(publicURL, messageID string) string {
	return strings.TrimRight(publicURL, "/") + StatusPath + "?message_id=" + url.QueryEscape(messageID)
}

// Routes mounts the webhook endpoints.
func (h *Webhooks) Routes(r chi.Router) {
	r.Post(StatusPath, h.status)
	r.Post(InboundPath, h.inbound)
}

func (h *Webhooks) status(w http.ResponseWriter, r *http.Request) {
	form, err := h.verify(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	rep, err := statusReport(r.URL.Query().Get("message_id"), form)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if err := h.recv.Status(r.Context(), rep); err != nil {
		h.refuse(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Webhooks) inbound(w http.ResponseWriter, r *http.Request) {
	form, err := h.verify(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	in := provider.Inbound{
		ProviderID: form.Get("MessageSid"),
		From:       form.Get("From"),
		To:         form.Get("To"),
		Body:       form.Get("Body"),
	}
	// Twilio's Advanced Opt-Out already handled a keyword and replied:
	// we record it but must not confirm again.
	switch t := strings.ToUpper(form.Get("OptOutType")); t {
	case provider.AnsweredStop, provider.AnsweredStart, provider.AnsweredHelp:
		in.Answered, in.AnsweredBy = t, "Twilio Advanced Opt-Out (OptOutType "+t+")"
	}
	if in.ProviderID == "" || in.From == "" {
		h.refuse(w, r, apperr.Invalid("From", "inbound message lacks MessageSid or From"))
		return
	}
	reply, err := h.recv.Inbound(r.Context(), in)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	h.writeTwiML(w, r, reply)
}

// statusReport reads a status callback into our vocabulary. The carrier's
// opt-out (21610) is Twilio's word for a member who replied STOP there.
func statusReport(messageID string, form url.Values) (provider.StatusReport, error) {
	rep := provider.StatusReport{
		MessageID: messageID, ProviderID: form.Get("MessageSid"), ProviderStatus: form.Get("MessageStatus"), ErrorCode: form.Get("ErrorCode"),
	}
	if rep.ProviderID == "" || rep.ProviderStatus == "" {
		return rep, apperr.Invalid("MessageStatus", "status callback lacks MessageSid or MessageStatus")
	}
	st, ok := Status(rep.ProviderStatus)
	if !ok {
		return rep, apperr.Invalid("MessageStatus", "unknown status %q", rep.ProviderStatus)
	}
	rep.Status = st
	if rep.ErrorCode == unsubscribed {
		rep.OptedOut, rep.Evidence = true, "twilio error "+unsubscribed+" on "+rep.ProviderID
	}
	return rep, nil
}

// verify checks the request's form and signature. Only the signature
// proves the request came from Twilio, so nothing is acted on before it.
func (h *Webhooks) verify(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, &apperr.Error{Kind: apperr.KindInvalid, Field: "Content-Type", Message: "want application/x-www-form-urlencoded"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return nil, apperr.Invalid("body", "reading body: %v", err)
	}
	if len(body) > maxWebhookBody {
		return nil, apperr.Invalid("body", "over %d bytes", maxWebhookBody)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, apperr.Invalid("body", "not a form: %v", err)
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return nil, apperr.Forbidden("missing X-Twilio-Signature")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, apperr.Invalid(k, "repeated parameter")
		}
	}
	if !h.signed(h.publicURL+r.URL.RequestURI(), form, sig) {
		return nil, apperr.Forbidden("X-Twilio-Signature does not match")
	}
	return form, nil
}

// signed says whether sig is Twilio's signature of fullURL and form, each
// parameter given once. Twilio signs the URL it was given, which is
// checked first, with one HMAC. twilio-go's validator decides every other
// case: it also tries the URL with its port added and removed, and always
// computes both, a few percent of delivery's CPU when every text brings
// two callbacks. Nothing it accepts is refused.
func (h *Webhooks) signed(fullURL string, form url.Values, sig string) bool {
	if hmac.Equal([]byte(signature(h.authToken, fullURL, form)), []byte(sig)) {
		return true
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		params[k] = v[0]
	}
	return h.validator.Validate(fullURL, params, sig)
}

// signature is X-Twilio-Signature as Twilio documents it: the base64
// HMAC-SHA1, keyed with the auth token, of the full URL followed by each
// POST parameter's name and (first) value, sorted by name.
func signature(authToken []byte, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	n := len(fullURL)
	for k := range form {
		keys = append(keys, k)
		n += len(k) + len(form.Get(k))
	}
	sort.Strings(keys)
	b := make([]byte, 0, n)
	b = append(b, fullURL...)
	for _, k := range keys {
		b = append(b, k...)
		b = append(b, form.Get(k)...)
	}
	mac := hmac.New(sha1.New, authToken)
	mac.Write(b)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// refuse answers a webhook we will not act on and logs it once. A refusal
// (4xx) says why; a failure of ours (5xx) says only that, since its text
// may name the database or the network, and the log has the detail.
func (h *Webhooks) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := web.StatusOf(err)
	if errors.Is(err, context.Canceled) {
		status = http.StatusServiceUnavailable
	}
	if status >= 500 {
		web.Fail(w, r, h.log, status, "twilio webhook failed", err, zap.String("path", r.URL.Path))
		return
	}
	h.log.Warn("twilio webhook refused", zap.String("path", r.URL.Path), zap.Int("status", status), zap.Error(err))
	web.WriteJSON(w, status, web.BodyOf(err))
}

type twiml struct {
	XMLName  xml.Name `xml:"Response"`
	Messages []string `xml:"Message"`
}

func (h *Webhooks) writeTwiML(w http.ResponseWriter, r *http.Request, reply string) {
	doc := twiml{}
	if reply != "" {
		doc.Messages = []string{reply}
	}
	out, err := xml.Marshal(doc)
	if err != nil {
		web.Fail(w, r, h.log, http.StatusInternalServerError, "twilio webhook failed", fmt.Errorf("encoding twiml: %w", err),
			zap.String("path", r.URL.Path))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}
