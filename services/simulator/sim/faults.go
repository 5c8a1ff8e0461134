package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// FaultKind says what an injected fault does to a send request.
type FaultKind string

// Fault kinds. FaultRateLimited, FaultServerError, FaultUnauthorized,
// FaultForbidden, FaultUnavailableAfterAccept and FaultTimeoutAfterAccept
// apply to both Twilio and SendGrid sends;
// FaultUnsubscribed, FaultInvalidNumber and FaultUndelivered to Twilio only;
// FaultInvalidEmail to SendGrid only.
const (
	// FaultRateLimited answers 429 (Twilio code 20429; SendGrid "too many
	// requests"). Nothing is recorded.
	FaultRateLimited FaultKind = "429"
	// FaultServerError answers 500 with the provider's JSON error body.
	// Nothing is recorded.
	FaultServerError FaultKind = "500"
	// FaultUnauthorized answers 401 as for wrong credentials (Twilio code
	// 20003; SendGrid's "authorization grant is invalid"), though the
	// request carried the right ones: a credential outage that a test can
	// end with Count or by clearing the rules. Nothing is recorded.
	FaultUnauthorized FaultKind = "401"
	// FaultForbidden answers 403 (Twilio code 20003 "Permission Denied";
	// SendGrid "access forbidden"): a key without the send scope, a
	// suspended account. Nothing is recorded.
	FaultForbidden FaultKind = "403"
	// FaultUnavailableAfterAccept records the message (it went out, and its
	// callbacks or events fire) but answers 503.
	FaultUnavailableAfterAccept FaultKind = "503_after_accept"
	// FaultTimeoutAfterAccept records the message (it went out, and its
	// callbacks or events fire) and then holds the request until the client
	// gives up, Fault.Hold (default Config.FaultHold) passes or the
	// simulator closes; a request still open then is aborted without an
	// answer.
	FaultTimeoutAfterAccept FaultKind = "timeout_after_accept"
	// FaultUnsubscribed answers 400 with Twilio code 21610 (the recipient
	// replied STOP). Nothing is recorded.
	FaultUnsubscribed FaultKind = "21610"
	// FaultInvalidNumber answers 400 with Twilio code 21211. Nothing is
	// recorded.
	FaultInvalidNumber FaultKind = "21211"
	// FaultUndelivered accepts and records the message, but its automatic
	// callbacks end in undelivered with ErrorCode 30006 instead of delivered.
	FaultUndelivered FaultKind = "30006"
	// FaultInvalidEmail answers SendGrid's 400 "Does not contain a valid
	// address." for the matched recipient. Nothing is recorded.
	FaultInvalidEmail FaultKind = "400"
)

// DefaultFaultHold is how long a timeout_after_accept fault holds a request
// when neither Fault.Hold nor Config.FaultHold says otherwise.
const DefaultFaultHold = 30 * time.Second

var (
	twilioFaultKinds = map[FaultKind]bool{
		FaultRateLimited: true, FaultServerError: true, FaultUnavailableAfterAccept: true,
		FaultUnauthorized: true, FaultForbidden: true,
		FaultTimeoutAfterAccept: true, FaultUnsubscribed: true, FaultInvalidNumber: true,
		FaultUndelivered: true,
	}
	emailFaultKinds = map[FaultKind]bool{
		FaultRateLimited: true, FaultServerError: true, FaultUnavailableAfterAccept: true,
		FaultTimeoutAfterAccept: true, FaultInvalidEmail: true,
		FaultUnauthorized: true, FaultForbidden: true,
	}
)

// ErrInvalidFault is wrapped by the errors that describe a bad fault rule.
var ErrInvalidFault = errors.New("invalid fault rule")

// Fault is one fault-injection rule. Rules are checked in order for every
// well-formed, authorized send request (after the simulator's own
// validation); the first rule that matches fires and the rest are skipped.
//
// A rule sees a request when it is not used up and To matches. Of the
// requests it sees, it fires on every one, on every Every-th one, or on a
// Percent share of them; a request it sees but does not fire on falls
// through to the next rule.
type Fault struct {
	// To is the exact To number (Twilio) or a recipient email (SendGrid,
	// case-insensitive, any recipient of the request). Empty matches all.
	To string
	// Every, when > 0, fires on the Every-th, 2·Every-th, … request the rule
	// sees.
	Every int
	// Percent, when > 0, fires on about that share (0 < Percent ≤ 100) of
	// the requests the rule sees, drawn from a random source seeded with
	// Seed, so a run is reproducible. Every and Percent exclude each other.
	Percent float64
	// Seed seeds the Percent draw.
	Seed uint64
	// Count is how many times the rule fires before it is used up; 0 means
	// unlimited.
	Count int
	// Kind is what happens to the request.
	Kind FaultKind
	// Hold bounds how long FaultTimeoutAfterAccept holds the request; 0
	// means Config.FaultHold.
	Hold time.Duration
}

// FaultState is a rule with its counters, as Faults and GET /sim/faults
// report them.
type FaultState struct {
	Fault
	// Seen counts the requests that reached the rule while it was not used
	// up and matched To.
	Seen int
	// Fired counts the requests the rule affected.
	Fired int
}

func validateFaults(rules []Fault, kinds map[FaultKind]bool) error {
	for i, f := range rules {
		var problem string
		switch {
		case !kinds[f.Kind]:
			problem = fmt.Sprintf("kind %q is not one of %s", f.Kind, kindList(kinds))
		case f.Every < 0:
			problem = "every must not be negative"
		case f.Count < 0:
			problem = "count must not be negative"
		case f.Percent < 0 || f.Percent > 100:
			problem = "percent must be between 0 and 100"
		case f.Every > 0 && f.Percent > 0:
			problem = "every and percent exclude each other"
		case f.Hold < 0:
			problem = "hold must not be negative"
		}
		if problem != "" {
			return fmt.Errorf("rule %d: %s: %w", i, problem, ErrInvalidFault)
		}
	}
	return nil
}

func kindList(kinds map[FaultKind]bool) string {
	var names []string
	for _, k := range []FaultKind{FaultRateLimited, FaultServerError, FaultUnauthorized, FaultForbidden, FaultInvalidEmail, FaultUnavailableAfterAccept,
		FaultTimeoutAfterAccept, FaultUnsubscribed, FaultInvalidNumber, FaultUndelivered} {
		if kinds[k] {
			names = append(names, string(k))
		}
	}
	return strings.Join(names, ", ")
}

// faultRule is a rule with its counters and random source.
type faultRule struct {
	Fault
	rng         *rand.Rand
	seen, fired int
}

// faultSet is an ordered, runtime-replaceable list of rules.
type faultSet struct {
	kinds map[FaultKind]bool
	mu    sync.Mutex
	rules []*faultRule
}

func (fs *faultSet) set(rules []Fault) error {
	if err := validateFaults(rules, fs.kinds); err != nil {
		return err
	}
	out := make([]*faultRule, len(rules))
	for i, f := range rules {
		out[i] = &faultRule{Fault: f, rng: rand.New(rand.NewPCG(f.Seed, 0x5157_4d55_5354_4552))}
	}
	fs.mu.Lock()
	fs.rules = out
	fs.mu.Unlock()
	return nil
}

// match returns the first rule that fires for a request whose recipients
// satisfy to, counting the request against the rules it reaches.
func (fs *faultSet) match(to func(string) bool) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, r := range fs.rules {
		if r.Count > 0 && r.fired >= r.Count {
			continue
		}
		if r.To != "" && !to(r.To) {
			continue
		}
		r.seen++
		if r.Every > 0 && r.seen%r.Every != 0 {
			continue
		}
		if r.Percent > 0 && r.rng.Float64()*100 >= r.Percent {
			continue
		}
		r.fired++
		return r.Fault, true
	}
	return Fault{}, false
}

func (fs *faultSet) states() []FaultState {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FaultState, len(fs.rules))
	for i, r := range fs.rules {
		out[i] = FaultState{Fault: r.Fault, Seen: r.seen, Fired: r.fired}
	}
	return out
}

// SetFaults replaces the Twilio send fault rules (nil clears them) and
// resets their counters. Invalid rules are a programming error and panic;
// PUT /sim/faults answers 400 for them instead.
func (s *Server) SetFaults(rules []Fault) {
	if err := s.faults.set(rules); err != nil {
		panic("sim: SetFaults: " + err.Error())
	}
}

// Faults returns the Twilio send fault rules with their counters.
func (s *Server) Faults() []FaultState { return s.faults.states() }

// SetEmailFaults replaces the SendGrid mail/send fault rules (nil clears
// them) and resets their counters. Fault.To matches any recipient email,
// ignoring case. Invalid rules panic, as in SetFaults.
func (s *Server) SetEmailFaults(rules []Fault) {
	if err := s.emailFaults.set(rules); err != nil {
		panic("sim: SetEmailFaults: " + err.Error())
	}
}

// EmailFaults returns the SendGrid fault rules with their counters.
func (s *Server) EmailFaults() []FaultState { return s.emailFaults.states() }

// holdFor returns how long a timeout_after_accept fault holds a request.
func (s *Server) holdFor(f Fault) time.Duration {
	if f.Hold > 0 {
		return f.Hold
	}
	return s.cfg.FaultHold
}

// hold keeps an accepted request open until the client gives up, d passes
// or the simulator closes. A client still waiting then gets no answer: the
// response is aborted and the connection dropped.
func (s *Server) hold(r *http.Request, d time.Duration) {
	// net/http notices a client hanging up only once the body is read to
	// the end; a JSON decoder may have stopped short of it.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxMailBytes))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return // the client gave up; nothing to answer
	case <-t.C:
	case <-s.ctx.Done():
	}
	panic(http.ErrAbortHandler)
}

// wait sleeps for the configured latency, returning false if the client
// gave up first. It reads the body (up to limit bytes) before sleeping,
// because only then does net/http notice a client that hangs up; the
// handler reads the buffered copy afterwards.
func (s *Server) wait(w http.ResponseWriter, r *http.Request, limit int64) bool {
	d := s.Latency()
	if d <= 0 {
		return true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		r.Body = io.NopCloser(errReader{err})
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
