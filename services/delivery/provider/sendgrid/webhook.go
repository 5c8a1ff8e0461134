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
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
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

// EventReceiver acts on verified events, mapped into delivery's neutral
// vocabulary.
type EventReceiver interface {
	EmailEvents(ctx context.Context, events []provider.EmailEvent) error
}

// Name labels SendGrid in metrics, logs and evidence.
const Name = "sendgrid"

// droppedSuppresses lists the dropped reasons that mean the address must
// not be mailed again (SendGrid's own suppression lists).
var droppedSuppresses = []string{"bounced address", "spam reporting address", "invalid", "unsubscribed address"}

// Neutral maps a SendGrid event to a status and a suppression in our
// vocabulary. The custom arg message_id is kept only when it is one of
// ours.
func (e Event) Neutral() provider.EmailEvent {
	out := provider.EmailEvent{ID: e.ID, Email: e.Email, Name: e.Event, Reason: e.Reason, ErrorCode: e.Status,
		Evidence: Name + " " + e.Event + " " + e.Reason}
	if events.IsID(e.MessageID) {
		out.MessageID = e.MessageID
	}
	switch e.Event {
	case "processed":
		out.Status = status.Accepted
	case "delivered":
		out.Status = status.Delivered
	case "bounce":
		out.Status = status.Undelivered
		if e.Type != "blocked" {
			// A block is the receiving server's passing refusal, not a
			// dead address.
			out.Suppress = events.ConsentBounced
		}
	case "dropped":
		out.Status = status.Failed
		reason := strings.ToLower(e.Reason)
		for _, r := range droppedSuppresses {
			if strings.Contains(reason, r) {
				out.Suppress = events.ConsentBounced
				break
			}
		}
	case "spamreport":
		out.Suppress = events.ConsentComplained
	case "unsubscribe", "group_unsubscribe":
		out.Suppress = events.ConsentOptedOut
	default: // deferred, open, click, group_resubscribe: nothing to do
	}
	return out
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
	evs, err := h.verify(r)
	if err == nil {
		err = h.recv.EmailEvents(r.Context(), evs)
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
func (h *EventWebhook) verify(r *http.Request) ([]provider.EmailEvent, error) {
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
	var posted []Event
	if err := json.Unmarshal(body, &posted); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, apperr.Invalid("body", "not valid JSON")
		}
		return nil, apperr.Invalid("body", "not an array of events: %v", err)
	}
	out := make([]provider.EmailEvent, len(posted))
	for i, e := range posted {
		if e.ID == "" || e.Event == "" {
			return nil, apperr.Invalid("sg_event_id", "event without sg_event_id or event")
		}
		out[i] = e.Neutral()
	}
	return out, nil
}
