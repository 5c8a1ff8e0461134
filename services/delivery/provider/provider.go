// Package provider is the vocabulary the send worker uses to understand a
// provider's answer. Each provider package (twilio, later sendgrid) turns
// its client's errors into a *SendError of one of these kinds.
package provider

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Kind says what the worker should do about a failed send.
type Kind int

// The kinds of send failure.
const (
	// Retryable: the provider did not take the message (connection
	// refused, 429 / Twilio 20429). Safe to send again after a delay.
	Retryable Kind = iota + 1
	// Permanent: the message can never go (invalid or landline number).
	Permanent
	// Stopped: the carrier says the member opted out (Twilio 21610).
	// Suppress the address like a STOP.
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
