package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Automatic callback retry policy: a failed callback is retried this many
// times, waiting retryBackoff, then twice that, and so on.
const (
	callbackRetries = 3
	retryBackoff    = 50 * time.Millisecond
)

// Errors returned by SendStatusCallback, so callers can tell a bad request
// from a webhook that could not be reached.
var (
	ErrUnknownMessage   = errors.New("unknown message sid")
	ErrNoStatusCallback = errors.New("message has no status callback url")
	ErrInvalidStatus    = errors.New("invalid message status")
)

// messageStatuses are the Twilio message statuses a callback may carry.
var messageStatuses = map[string]bool{
	"queued": true, "accepted": true, "scheduled": true, "sending": true,
	"sent": true, "delivered": true, "undelivered": true, "failed": true,
	"read": true, "canceled": true, "receiving": true, "received": true,
}

// callbackJob asks for the automatic sent/delivered callbacks of one
// message once due has passed.
type callbackJob struct {
	sid string
	due time.Time
}

// callbackQueue is an unbounded FIFO of jobs. It holds only a SID and a
// time per pending message, so it grows no faster than the message store.
// Jobs are appended in due order because the delay is the same for all.
type callbackQueue struct {
	mu     sync.Mutex
	jobs   []callbackJob
	wake   chan struct{}
	closed bool
}

func newCallbackQueue() *callbackQueue {
	return &callbackQueue{wake: make(chan struct{}, 1)}
}

func (q *callbackQueue) push(j callbackJob) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.jobs = append(q.jobs, j)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// peek returns the oldest job without removing it.
func (q *callbackQueue) peek() (callbackJob, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.jobs) == 0 {
		return callbackJob{}, false
	}
	return q.jobs[0], true
}

func (q *callbackQueue) pop() {
	q.mu.Lock()
	if len(q.jobs) == 0 { // emptied by close
		q.mu.Unlock()
		return
	}
	q.jobs[0] = callbackJob{}
	q.jobs = q.jobs[1:]
	if len(q.jobs) == 0 {
		q.jobs = nil // let the drained backing array go
	}
	q.mu.Unlock()
}

func (q *callbackQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.jobs = nil
	q.mu.Unlock()
}

// scheduleCallbacks queues the automatic callbacks for a new message.
func (s *Server) scheduleCallbacks(sid string) {
	if !s.cfg.AutoCallbacks {
		return
	}
	s.queue.push(callbackJob{sid: sid, due: time.Now().Add(s.cfg.CallbackDelay)})
}

// startCallbackWorkers starts a dispatcher that hands due jobs to a fixed
// pool of workers over an unbuffered channel.
func (s *Server) startCallbackWorkers() {
	work := make(chan callbackJob)
	s.wg.Add(1 + s.cfg.CallbackWorkers)
	go func() {
		defer s.wg.Done()
		defer close(work)
		s.dispatch(work)
	}()
	for range s.cfg.CallbackWorkers {
		go func() {
			defer s.wg.Done()
			for j := range work {
				s.runAutoCallbacks(j.sid)
			}
		}()
	}
}

func (s *Server) dispatch(work chan<- callbackJob) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		j, ok := s.queue.peek()
		if !ok {
			select {
			case <-s.queue.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if wait := time.Until(j.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
				continue
			case <-s.ctx.Done():
				timer.Stop()
				return
			}
		}
		s.queue.pop()
		select {
		case work <- j:
		case <-s.ctx.Done():
			return
		}
	}
}

// callbackStep is one automatic status callback: a status and the error
// code it carries.
type callbackStep struct {
	status, errorCode string
}

// shapeCallbacks lays out a message's automatic callbacks: each step
// repeated repeat times in a row, in order, reversed or shuffled.
func shapeCallbacks(steps []callbackStep, order CallbackOrder, repeat int) []callbackStep {
	out := make([]callbackStep, 0, len(steps)*repeat)
	for _, st := range steps {
		for range repeat {
			out = append(out, st)
		}
	}
	switch order {
	case CallbackReversed:
		slices.Reverse(out)
	case CallbackShuffled:
		rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// runAutoCallbacks moves a message to sent then delivered (undelivered with
// 30006 for a FaultUndelivered message), firing a status callback for each
// when the message has a StatusCallback URL. Callbacks follow the current
// CallbackOrder and CallbackRepeat; the stored status never moves back, so
// it ends at the final status whatever the order. A message removed by
// Reset is skipped.
func (s *Server) runAutoCallbacks(sid string) {
	m, ok := s.msgs.get(sid)
	if !ok {
		return
	}
	final := callbackStep{status: "delivered"}
	if m.Fault == FaultUndelivered {
		final = callbackStep{status: "undelivered", errorCode: string(FaultUndelivered)}
	}
	order, repeat := s.callbackShape()
	for _, st := range shapeCallbacks([]callbackStep{{status: "sent"}, final}, order, repeat) {
		if s.ctx.Err() != nil {
			return
		}
		m, ok := s.msgs.advance(sid, st.status, st.errorCode, s.cfg.Clock().UTC())
		if !ok {
			return
		}
		if m.StatusCallback == "" {
			continue
		}
		m.Status, m.ErrorCode = st.status, st.errorCode
		s.deliverWithRetry(m)
	}
}

// deliverWithRetry posts one status callback, retrying failures with
// exponential back-off, and logs once if every attempt failed.
func (s *Server) deliverWithRetry(m Message) {
	backoff := retryBackoff
	var err error
	for attempt := 0; attempt <= callbackRetries; attempt++ {
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
		var code int
		code, err = s.postStatusCallback(s.ctx, m)
		if err == nil && code >= 200 && code < 300 {
			return
		}
		if err == nil {
			err = fmt.Errorf("webhook answered %d", code)
		}
		if s.ctx.Err() != nil {
			return
		}
	}
	s.log.Warn("status callback failed",
		zap.String("sid", m.Sid),
		zap.String("status", m.Status),
		zap.String("url", m.StatusCallback),
		zap.Int("attempts", callbackRetries+1),
		zap.Error(err))
}

// statusParams are the form parameters Twilio posts to a status callback.
func (s *Server) statusParams(m Message) url.Values {
	p := url.Values{}
	p.Set("MessageSid", m.Sid)
	p.Set("SmsSid", m.Sid)
	p.Set("AccountSid", m.AccountSid)
	p.Set("From", m.From)
	p.Set("To", m.To)
	p.Set("MessageStatus", m.Status)
	p.Set("SmsStatus", m.Status)
	p.Set("ApiVersion", apiVersion)
	if m.MessagingServiceSid != "" {
		p.Set("MessagingServiceSid", m.MessagingServiceSid)
	}
	if m.Status == "failed" || m.Status == "undelivered" {
		p.Set("ErrorCode", m.ErrorCode)
	}
	return p
}

// postStatusCallback makes one signed status callback request and returns
// the webhook's HTTP status code.
func (s *Server) postStatusCallback(ctx context.Context, m Message) (int, error) {
	code, _, err := s.postSigned(ctx, m.StatusCallback, s.statusParams(m), 0)
	if err != nil {
		return 0, fmt.Errorf("post status callback for %s: %w", m.Sid, err)
	}
	return code, nil
}

// postSigned POSTs params form-encoded to target with an X-Twilio-Signature
// header, returning the status code and up to maxBody bytes of the reply.
func (s *Server) postSigned(ctx context.Context, target string, params url.Values, maxBody int64) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(params.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("X-Twilio-Signature", signature(s.cfg.AuthToken, target, params))
	resp, err := s.httpc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("send request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("read response: %w", err)
	}
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, body, nil
}

// SendStatusCallback sets a message's status and fires one signed status
// callback for it now, whatever its current status, so tests can deliver
// callbacks out of order or twice. errorCode is sent with failed and
// undelivered (default 30008 for failed, 30003 for undelivered). It returns
// the status code the webhook answered.
func (s *Server) SendStatusCallback(ctx context.Context, sid, status, errorCode string) (int, error) {
	if !messageStatuses[status] {
		return 0, fmt.Errorf("status %q: %w", status, ErrInvalidStatus)
	}
	m, ok := s.msgs.get(sid)
	if !ok {
		return 0, fmt.Errorf("message %s: %w", sid, ErrUnknownMessage)
	}
	if m.StatusCallback == "" {
		return 0, fmt.Errorf("message %s: %w", sid, ErrNoStatusCallback)
	}
	switch {
	case status != "failed" && status != "undelivered":
		errorCode = ""
	case errorCode != "":
	case status == "failed":
		errorCode = "30008"
	default:
		errorCode = "30003"
	}
	m, ok = s.msgs.setStatus(sid, status, errorCode, s.cfg.Clock().UTC())
	if !ok {
		return 0, fmt.Errorf("message %s: %w", sid, ErrUnknownMessage)
	}
	return s.postStatusCallback(ctx, m)
}
