package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// SendGrid event webhook batching: a batch is posted when it holds
// eventBatchMax events or its oldest event has waited eventBatchWindow.
const (
	eventBatchMax    = 100
	eventBatchWindow = 200 * time.Millisecond
)

// Headers of a signed SendGrid event webhook request, as sendgrid-go's
// eventwebhook package names them.
const (
	EventSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature"
	EventTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// ErrNoEventWebhookURL is returned by SendEmailEvents when
// Config.EventWebhookURL is empty.
var ErrNoEventWebhookURL = errors.New("event webhook url not configured")

// eventQueue is an unbounded FIFO of automatic SendGrid events waiting to
// be batched.
type eventQueue struct {
	mu      sync.Mutex
	events  []queuedEvent
	firstAt time.Time // when the oldest pending event was queued
	wake    chan struct{}
	closed  bool
}

func newEventQueue() *eventQueue {
	return &eventQueue{wake: make(chan struct{}, 1)}
}

// queuedEvent is an automatic event as it waits: what happened, to which
// email, when. It becomes SendGrid's JSON when its batch is posted, so a
// backlog of events holds no maps.
type queuedEvent struct {
	email *Email
	event string
	at    time.Time
}

func (q *eventQueue) push(evs []queuedEvent) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	if len(q.events) == 0 {
		q.firstAt = time.Now()
	}
	q.events = append(q.events, evs...)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pending returns how many events wait and when the oldest was queued.
func (q *eventQueue) pending() (int, time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.events), q.firstAt
}

// take removes and returns up to n of the oldest events. Events left
// behind keep their age, so they go out without another wait.
func (q *eventQueue) take(n int) []queuedEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	n = min(n, len(q.events))
	batch := make([]queuedEvent, n)
	copy(batch, q.events)
	clear(q.events[:n])
	q.events = q.events[n:]
	if len(q.events) == 0 {
		q.events = nil
	}
	return batch
}

func (q *eventQueue) drop() {
	q.mu.Lock()
	q.events = nil
	q.mu.Unlock()
}

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.events = nil
	q.mu.Unlock()
}

// SendGridPublicKey returns the public key of the event webhook signing key
// as base64 DER (PKIX), the form SendGrid's console shows and sendgrid-go's
// eventwebhook.ConvertPublicKeyBase64ToECDSA reads.
func (s *Server) SendGridPublicKey() string { return s.publicKey }

// queueAutoEvents queues processed then delivered events for the emails
// of a request just accepted (rec, decoded as m) when automatic events
// are on and there is a webhook to post to.
func (s *Server) queueAutoEvents(rec mailRecord, m *sgMail) {
	if auto, _ := s.emailEventSettings(); !auto || s.cfg.EventWebhookURL == "" || rec.count == 0 {
		return
	}
	emails := envelopes(m, rec.id)
	now := time.Now()
	evs := make([]queuedEvent, 0, 2*len(emails))
	for i := range emails {
		evs = append(evs, queuedEvent{email: &emails[i], event: "processed", at: now})
	}
	for i := range emails {
		evs = append(evs, queuedEvent{email: &emails[i], event: "delivered", at: now})
	}
	s.events.push(evs)
}

func (s *Server) startEventBatcher() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.batchEvents()
	}()
}

// batchEvents posts queued events in batches, one batch at a time so they
// arrive in the order they were queued.
func (s *Server) batchEvents() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		n, first := s.events.pending()
		if n == 0 {
			select {
			case <-s.events.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if wait := time.Until(first.Add(eventBatchWindow)); n < eventBatchMax && wait > 0 {
			timer.Reset(wait)
			select {
			case <-s.events.wake:
				timer.Stop()
			case <-timer.C:
			case <-s.ctx.Done():
				timer.Stop()
				return
			}
			continue
		}
		if batch := s.events.take(eventBatchMax); len(batch) > 0 {
			s.postEventBatch(batch)
		}
	}
}

// postEventBatch posts one batch EmailEventRepeat times, retrying each post
// like a status callback, and logs a post that never succeeded.
func (s *Server) postEventBatch(queued []queuedEvent) {
	batch := make([]map[string]any, len(queued))
	for i, q := range queued {
		batch[i] = emailEvent(*q.email, q.event, q.at, nil)
	}
	body, err := marshalEvents(batch)
	if err != nil {
		s.log.Error("marshal email events", zap.Error(err))
		return
	}
	_, repeat := s.emailEventSettings()
	for range repeat {
		backoff := retryBackoff
		for attempt := 0; ; attempt++ {
			if attempt > 0 {
				t := time.NewTimer(backoff)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
					return
				}
				backoff *= 2
			}
			code, err := s.postEvents(s.ctx, body)
			if err == nil && code >= 200 && code < 300 {
				break
			}
			if s.ctx.Err() != nil {
				return
			}
			if err == nil {
				err = fmt.Errorf("webhook answered %d", code)
			}
			if attempt == callbackRetries {
				s.log.Warn("email event webhook failed",
					zap.String("url", s.cfg.EventWebhookURL),
					zap.Int("events", len(batch)),
					zap.Int("attempts", callbackRetries+1),
					zap.Error(err))
				break
			}
		}
	}
}

// marshalEvents encodes events the way SendGrid does: a JSON array without
// HTML escaping, ending in CRLF.
func marshalEvents(events []map[string]any) ([]byte, error) {
	if events == nil {
		events = []map[string]any{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(events); err != nil {
		return nil, fmt.Errorf("encode events: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return append(body, '\r', '\n'), nil
}

// signEvents returns SendGrid's event webhook signature: base64 of the
// ASN.1 DER ECDSA signature of SHA-256(timestamp + body).
func (s *Server) signEvents(timestamp string, body []byte) (string, error) {
	h := sha256.New()
	h.Write([]byte(timestamp))
	h.Write(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.eventKey, h.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("sign events: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// postEvents signs body and POSTs it to the event webhook, returning the
// status code the webhook answered.
func (s *Server) postEvents(ctx context.Context, body []byte) (int, error) {
	if s.cfg.EventWebhookURL == "" {
		return 0, ErrNoEventWebhookURL
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig, err := s.signEvents(ts, body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.EventWebhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build event webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "SendGrid Event API")
	req.Header.Set(EventSignatureHeader, sig)
	req.Header.Set(EventTimestampHeader, ts)
	resp, err := s.httpc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post email events: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// SendEmailEvents signs events as SendGrid does and POSTs them now, as one
// array, to Config.EventWebhookURL, once and without retries, so tests can
// deliver any events in any order. It returns the status code the webhook
// answered. EmailEvent builds realistic events for recorded emails.
func (s *Server) SendEmailEvents(ctx context.Context, events []map[string]any) (int, error) {
	if s.cfg.EventWebhookURL == "" {
		return 0, ErrNoEventWebhookURL
	}
	body, err := marshalEvents(events)
	if err != nil {
		return 0, err
	}
	return s.postEvents(ctx, body)
}

// Filler values for event fields SendGrid reports about the recipient's
// side.
const (
	eventIP        = "203.0.113.7"
	eventUserAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)

// EmailEvent builds a SendGrid event of kind event (processed, delivered,
// deferred, bounce, dropped, open, click, spamreport, unsubscribe,
// group_unsubscribe, group_resubscribe, …) for a recorded email. It has
// email, timestamp, event, a unique sg_event_id, the email's sg_message_id
// and smtp-id, its categories and asm_group_id when it had them, and each
// custom arg at the top level, as SendGrid sends them. Event-specific
// fields get realistic values: bounce has type "bounce", reason and status;
// dropped has reason; deferred has response and attempt; delivered has
// response; open and click have useragent and ip, click a url;
// group_unsubscribe and group_resubscribe have asm_group_id (the email's,
// or 1 when it had none). extra is applied last and overrides any field.
func (s *Server) EmailEvent(email Email, event string, extra map[string]any) map[string]any {
	return emailEvent(email, event, time.Now(), extra)
}

// emailEvent is EmailEvent for an event that happened at.
func emailEvent(email Email, event string, at time.Time, extra map[string]any) map[string]any {
	ev := make(map[string]any, len(email.CustomArgs)+8+len(extra))
	for k, v := range email.CustomArgs {
		ev[k] = v
	}
	ev["email"] = email.To
	ev["timestamp"] = at.Unix()
	ev["event"] = event
	ev["sg_event_id"] = newEventID()
	ev["sg_message_id"] = email.SGMessageID
	ev["smtp-id"] = "<" + email.MessageID + "@ismtpd0001p1mdw1.sendgrid.net>"
	switch len(email.Categories) {
	case 0:
	case 1:
		ev["category"] = email.Categories[0]
	default:
		ev["category"] = append([]string(nil), email.Categories...)
	}
	if email.ASMGroupID != 0 {
		ev["asm_group_id"] = email.ASMGroupID
	}
	switch event {
	case "delivered":
		ev["response"] = "250 2.0.0 OK"
		ev["ip"] = "149.72.0.1"
		ev["tls"] = 1
	case "deferred":
		ev["response"] = "451 4.7.1 Temporary failure, try again later"
		ev["attempt"] = "1"
		ev["ip"] = "149.72.0.1"
	case "bounce":
		ev["type"] = "bounce"
		ev["reason"] = "550 5.1.1 The email account that you tried to reach does not exist."
		ev["status"] = "5.1.1"
		ev["bounce_classification"] = "Invalid Address"
		ev["ip"] = "149.72.0.1"
	case "dropped":
		ev["reason"] = "Bounced Address"
	case "open":
		ev["useragent"] = eventUserAgent
		ev["ip"] = eventIP
		ev["sg_machine_open"] = false
	case "click":
		ev["useragent"] = eventUserAgent
		ev["ip"] = eventIP
		ev["url"] = "https://muster.example/"
		ev["url_offset"] = map[string]any{"index": 0, "type": "html"}
	case "group_unsubscribe", "group_resubscribe":
		ev["useragent"] = eventUserAgent
		ev["ip"] = eventIP
		if email.ASMGroupID == 0 {
			ev["asm_group_id"] = 1
		}
	}
	for k, v := range extra {
		ev[k] = v
	}
	return ev
}

// newEventID returns a unique id shaped like SendGrid's sg_event_id.
func newEventID() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
