// Package worker is the send pipeline: for each send request, in order,
// an idempotent record, the suppression check at send time, then the
// provider call, and a status for every outcome. It fails closed: without
// a written record and a confirmed suppression check nothing is sent.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/stream"
)

// MaxSMSBody is Twilio's limit on one message's body, in characters.
const MaxSMSBody = 1600

// SMSSender sends one text; the Twilio client is one.
type SMSSender interface {
	Send(ctx context.Context, m twilio.Message) (string, error)
}

// Publisher announces what happened to a message.
type Publisher interface {
	Status(ctx context.Context, m store.Message)
	Consent(ctx context.Context, ev events.ConsentChanged)
}

// Config is what the worker needs to address a message.
type Config struct {
	From                string
	MessagingServiceSID string
	// PublicURL is the base URL Twilio's status callbacks are sent to.
	PublicURL string
}

// Worker handles send requests from the SEND stream.
type Worker struct {
	cfg   Config
	store *store.Store
	sms   SMSSender
	pub   Publisher
	log   *zap.Logger
}

// New builds a worker.
func New(cfg Config, st *store.Store, sms SMSSender, pub Publisher, log *zap.Logger) *Worker {
	return &Worker{cfg: cfg, store: st, sms: sms, pub: pub, log: log}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// Handle is the stream handler for one send request.
func (w *Worker) Handle(ctx context.Context, m stream.Msg) error {
	var req events.SendRequested
	if err := json.Unmarshal(m.Data, &req); err != nil {
		return stream.Permanent(fmt.Errorf("decoding send request: %w", err))
	}
	if req.Version > events.VersionSendRequested {
		return stream.Permanent(fmt.Errorf("send request version %d is newer than this service knows", req.Version))
	}
	if req.IdempotencyKey == "" || req.CampaignID == "" || req.ContactID == "" {
		return stream.Permanent(errors.New("send request lacks idempotency key, campaign or contact"))
	}
	if reason := invalid(req); reason != "" {
		return w.refuse(ctx, req, reason)
	}
	msg, created, err := w.store.Record(ctx, req)
	if err != nil {
		return stream.Retry(err, time.Second)
	}
	if !created && msg.Status != status.Queued {
		return w.resume(ctx, msg)
	}
	claimed, err := w.store.Claim(ctx, msg.ID)
	if err != nil {
		return stream.Retry(err, time.Second)
	}
	switch claimed {
	case "":
		return nil // another worker holds it
	case status.Suppressed:
		w.announce(ctx, msg.ID)
		return nil
	}
	return w.send(ctx, msg, req)
}

// invalid says why a request can never be sent, or "".
func invalid(req events.SendRequested) string {
	switch {
	case req.Channel != events.ChannelSMS:
		return fmt.Sprintf("channel %q is not one delivery sends on yet", req.Channel)
	case !e164.MatchString(req.To):
		return "recipient is not an E.164 phone number"
	case req.Body == "":
		return "empty body"
	case utf8.RuneCountInString(req.Body) > MaxSMSBody:
		return fmt.Sprintf("body is over %d characters", MaxSMSBody)
	}
	return ""
}

// refuse logs a request that can never be sent as failed, so the message
// log accounts for it.
func (w *Worker) refuse(ctx context.Context, req events.SendRequested, reason string) error {
	msg, created, err := w.store.RecordFailed(ctx, req, reason)
	if err != nil {
		return stream.Retry(err, time.Second)
	}
	if created {
		w.log.Warn("send request refused", zap.String("idempotency_key", req.IdempotencyKey), zap.String("reason", reason))
		w.pub.Status(ctx, msg)
	}
	return nil
}

// resume handles a request seen before. Only a message left in sending
// needs anything: the process stopped during its provider call, so it may
// have gone out. It is never resent; it is marked unknown until a status
// callback (which carries our id) settles it.
func (w *Worker) resume(ctx context.Context, msg store.Message) error {
	if msg.Status != status.Sending {
		return nil
	}
	w.log.Warn("provider call outcome unknown after restart; not resending", zap.String("message_id", msg.ID))
	return w.settle(ctx, msg.ID, store.Update{Status: status.Unknown, Reason: "interrupted during provider call; awaiting callback"})
}

func (w *Worker) send(ctx context.Context, msg store.Message, req events.SendRequested) error {
	sid, err := w.sms.Send(ctx, twilio.Message{
		To: msg.To, From: w.cfg.From, MessagingServiceSID: w.cfg.MessagingServiceSID, Body: msg.Body,
		StatusCallback: twilio.StatusCallbackURL(w.cfg.PublicURL, msg.ID),
	})
	if err == nil {
		return w.settle(ctx, msg.ID, store.Update{Status: status.Accepted, ProviderID: sid})
	}
	kind, code := provider.Classify(err)
	fields := []zap.Field{zap.String("message_id", msg.ID), zap.String("provider", "twilio"), zap.String("code", code), zap.Error(err)}
	switch kind {
	case provider.Retryable:
		if err := w.store.Release(ctx, msg.ID); err != nil {
			return stream.Retry(err, time.Second)
		}
		delay := time.Second + rand.N(time.Second)
		w.log.Debug("provider busy; retrying", append(fields, zap.Duration("delay", delay))...)
		return stream.Retry(err, delay)
	case provider.Stopped:
		w.log.Info("carrier reports recipient opted out", append(fields, logging.Phone("to", msg.To))...)
		if err := w.suppress(ctx, msg, code); err != nil {
			return stream.Retry(err, time.Second)
		}
		return w.settle(ctx, msg.ID, store.Update{Status: status.Suppressed, ErrorCode: code, Reason: "carrier reports recipient opted out"})
	case provider.Permanent:
		w.log.Warn("send failed for good", fields...)
		return w.settle(ctx, msg.ID, store.Update{Status: status.Failed, ErrorCode: code, Reason: err.Error()})
	default:
		w.log.Warn("send outcome ambiguous; not resending", fields...)
		return w.settle(ctx, msg.ID, store.Update{Status: status.Unknown, ErrorCode: code, Reason: "ambiguous provider answer: " + err.Error()})
	}
}

// settle applies an outcome and announces it when the message moved.
func (w *Worker) settle(ctx context.Context, id string, u store.Update) error {
	msg, moved, err := w.store.Apply(ctx, id, u)
	if err != nil {
		// The provider call is done; retrying only re-applies the outcome
		// (resume sees sending and marks unknown rather than resend).
		return stream.Retry(err, time.Second)
	}
	if moved {
		w.pub.Status(ctx, msg)
	}
	return nil
}

func (w *Worker) announce(ctx context.Context, id string) {
	msg, err := w.store.Get(ctx, id)
	if err != nil {
		w.log.Error("reading message to announce", zap.String("message_id", id), zap.Error(err))
		return
	}
	w.pub.Status(ctx, msg)
}

// suppress records a carrier-level opt-out like a STOP.
func (w *Worker) suppress(ctx context.Context, msg store.Message, code string) error {
	added, err := w.store.Suppress(ctx, store.Suppression{
		Channel: msg.Channel, Address: msg.To, Reason: "carrier opt-out", Source: events.SourceProvider,
		Evidence: "twilio error " + code,
	})
	if err != nil || !added {
		return err
	}
	ev := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, msg.CorrelationID, time.Now()),
		Channel: events.Channel(msg.Channel), Address: msg.To, Change: events.ConsentOptedOut,
		Source: events.SourceProvider, Evidence: "twilio error " + code, At: time.Now().UTC(),
	}
	ev.ID = "carrier-stop." + msg.ID
	w.pub.Consent(ctx, ev)
	return nil
}
