package sendgrid

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// EventsPath is where SendGrid's event webhook posts.
const EventsPath = "/webhooks/sendgrid/events"

// maxEventsBody bounds one POST; SendGrid batches events but keeps posts
// well under this.
const maxEventsBody = 4 << 20

// maxClockSkew refuses replayed posts: a signed timestamp older than this
// is not accepted.
const maxClockSkew = 24 * time.Hour

// Event is one SendGrid event, with the custom_args we sent copied to the
// top level as SendGrid does.
type Event struct {
	ID        string `json:"sg_event_id"`
	Event     string `json:"event"`
	Email     string `json:"email"`
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	Status    string `json:"status"`
	MessageID string `json:"message_id"`
}

// EventReceiver acts on verified events.
type EventReceiver interface {
	EmailEvents(ctx context.Context, events []Event) error
}

// ParsePublicKey reads the webhook's verification key as SendGrid shows
// it (base64 DER). It checks the key type itself: sendgrid-go's converter
// panics on a key that is not ECDSA.
func ParsePublicKey(b64 string) (*ecdsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decoding sendgrid webhook key: %w", err)
	}
	key, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing sendgrid webhook key: %w", err)
	}
	if _, ok := key.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("sendgrid webhook key is %T, not ECDSA", key)
	}
	return eventwebhook.ConvertPublicKeyBase64ToECDSA(b64)
}

// EventWebhook verifies and decodes SendGrid's event posts.
type EventWebhook struct {
	key  *ecdsa.PublicKey
	recv EventReceiver
	now  func() time.Time
	log  *zap.Logger
}

// NewEventWebhook builds the handler.
func NewEventWebhook(key *ecdsa.PublicKey, recv EventReceiver, log *zap.Logger) *EventWebhook {
	return &EventWebhook{key: key, recv: recv, now: time.Now, log: log}
}

// Routes mounts the webhook.
func (h *EventWebhook) Routes(r chi.Router) { r.Post(EventsPath, h.events) }

func (h *EventWebhook) events(w http.ResponseWriter, r *http.Request) {
	events, err := h.verify(r)
	if err == nil {
		err = h.recv.EmailEvents(r.Context(), events)
	}
	if err != nil {
		status := web.StatusOf(err)
		if status >= 500 {
			web.Fail(w, r, h.log, status, "sendgrid webhook failed", err)
			return
		}
		h.log.Warn("sendgrid webhook refused", zap.Int("status", status), zap.Error(err))
		web.WriteJSON(w, status, web.BodyOf(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks the signature over the raw body before decoding anything.
func (h *EventWebhook) verify(r *http.Request) ([]Event, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, &apperr.Error{Kind: apperr.KindInvalid, Field: "Content-Type", Message: "want application/json"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxEventsBody+1))
	if err != nil {
		return nil, apperr.Invalid("body", "reading body: %v", err)
	}
	if len(body) > maxEventsBody {
		return nil, apperr.Invalid("body", "over %d bytes", maxEventsBody)
	}
	sig, ts := r.Header.Get(eventwebhook.VerificationHTTPHeader), r.Header.Get(eventwebhook.TimestampHTTPHeader)
	if sig == "" || ts == "" {
		return nil, apperr.Forbidden("missing event webhook signature or timestamp")
	}
	ok, err := eventwebhook.VerifySignature(h.key, body, sig, ts)
	if err != nil || !ok {
		return nil, apperr.Forbidden("event webhook signature does not match")
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || h.now().Sub(time.Unix(sec, 0)).Abs() > maxClockSkew {
		return nil, apperr.Forbidden("event webhook timestamp out of range")
	}
	var events []Event
	if err := json.Unmarshal(body, &events); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, apperr.Invalid("body", "not valid JSON")
		}
		return nil, apperr.Invalid("body", "not an array of events: %v", err)
	}
	return events, nil
}
