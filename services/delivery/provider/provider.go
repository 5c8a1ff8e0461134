// Package provider is the provider-neutral vocabulary between delivery's
// pipelines and the providers they send through: what a text is, what a
// provider must do with it, what its answers and reports mean. Each
// provider package (twilio, sendgrid) speaks its provider's wire format
// and maps it onto these types; nothing else in delivery knows a
// provider's codes, statuses or URLs.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/musterhq/muster/services/delivery/status"
)

// SMS is one text to send.
type SMS struct {
	// MessageID is ours; the provider's status reports carry it back.
	MessageID string
	To        string
	// From is the sending number; ServiceID, when set, names a pool of
	// numbers the provider picks from instead (Twilio's Messaging
	// Service).
	From      string
	ServiceID string
	Body      string
	// Validity, when set, has the provider drop the text if it is still
	// queued after it (so a text never arrives in the member's quiet
	// hours).
	Validity time.Duration
}

// SMSSender sends one text and returns the provider's id for it.
// Failures are *SendError values.
type SMSSender interface {
	Send(ctx context.Context, m SMS) (string, error)
}

// SMSFinder looks a text up at the provider, for the reconciler: found,
// the text went; not found long after the call ended, it never reached
// the provider and may be sent again.
type SMSFinder interface {
	Find(ctx context.Context, to, body string, since time.Time) (Found, bool, error)
}

// Found is a text the provider holds.
type Found struct {
	ProviderID string
	// Status is the provider's status in our vocabulary; Accepted when
	// the provider's word says nothing more.
	Status status.Status
	// ProviderStatus and ErrorCode are the provider's own words, kept for
	// the message log.
	ProviderStatus string
	ErrorCode      string
}

// StatusReport is a provider's report on one of our texts (a status
// callback), in our vocabulary.
type StatusReport struct {
	// MessageID is ours when the report carries it; otherwise the
	// message is found by ProviderID.
	MessageID  string
	ProviderID string
	Status     status.Status
	// ProviderStatus and ErrorCode are the provider's own words.
	ProviderStatus string
	ErrorCode      string
	// OptedOut says the carrier reports the recipient opted out: the
	// number is suppressed like a STOP. Evidence says who said so.
	OptedOut bool
	Evidence string
}

// Inbound is a text a member sent us.
type Inbound struct {
	ProviderID string
	From       string
	To         string
	Body       string
	// Answered is the keyword (STOP, START or HELP) the provider's own
	// opt-out handling already acted on and replied to: delivery records
	// it as that keyword, whatever the words, and must not reply again.
	// "" when the provider did nothing.
	Answered string
	// AnsweredBy names the provider's feature, for the message log.
	AnsweredBy string
}

// The keywords a provider may have answered.
const (
	AnsweredStop  = "STOP"
	AnsweredStart = "START"
	AnsweredHelp  = "HELP"
)

// EmailEvent is one thing an email provider reports about a message or
// an address, in our vocabulary.
type EmailEvent struct {
	// ID is the provider's id for the event: each is acted on once.
	ID string
	// MessageID is ours, when the event concerns one of our messages.
	MessageID string
	Email     string
	// Name is the provider's name for the event, kept for the log.
	Name string
	// Status is where the message moves; "" when it does not.
	Status status.Status
	// Suppress is the consent change (events.ConsentBounced, ...) when
	// the address must not be mailed again; "" otherwise.
	Suppress  string
	Reason    string
	ErrorCode string
	// Evidence says who said so, for the suppression list.
	Evidence string
}

// Kind says what the worker should do about a failed send.
type Kind int

// The kinds of send failure.
const (
	// Retryable: the provider did not take the message (connection
	// refused, too many requests). Safe to send again after a delay.
	Retryable Kind = iota + 1
	// Permanent: the message can never go (invalid or landline number).
	Permanent
	// Stopped: permanent for this address because its owner opted out
	// at the carrier (Twilio 21610): suppress the address like a STOP.
	Stopped
	// Ambiguous: the request went out and no clear answer came back (a
	// timeout, a 5xx). The message may have been sent: never resend
	// blindly; reconcile instead.
	Ambiguous
	// Unauthorized: the provider refused our credentials or their rights
	// (HTTP 401, 403). Nothing was sent and the message is not at fault,
	// but no retry will go until an operator fixes the account: the
	// channel pauses (package pause) instead of failing the message or
	// retrying it in a loop.
	Unauthorized
)

func (k Kind) String() string {
	switch k {
	case Retryable:
		return "retryable"
	case Permanent:
		return "permanent"
	case Stopped:
		return "stopped"
	case Ambiguous:
		return "ambiguous"
	case Unauthorized:
		return "unauthorized"
	default:
		return "unclassified"
	}
}

// SendError is a classified provider failure. Code is the provider's own
// error code, kept for the message log.
type SendError struct {
	Kind Kind
	Code string
	Err  error
}

func (e *SendError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s send failure (code %s): %v", e.Kind, e.Code, e.Err)
	}
	return fmt.Sprintf("%s send failure: %v", e.Kind, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// Classify finds the kind of a send error. An error no provider package
// classified is treated as ambiguous: the safe reading is that it may
// have been sent.
func Classify(err error) (Kind, string) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Kind, se.Code
	}
	return Ambiguous, ""
}

// FromTransport classifies an error from the HTTP transport: a connection
// that never opened sent nothing and is safe to retry; anything after the
// request may have left (a timeout, a broken response) is ambiguous.
func FromTransport(err error) error {
	var op *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial") {
		return &SendError{Kind: Retryable, Err: err}
	}
	return &SendError{Kind: Ambiguous, Err: err}
}
