// Package apperr is Muster's small error vocabulary. Domain code says what
// kind of failure happened; the HTTP edge (package web) maps the kind to a
// status code. Nothing here knows about HTTP.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies a failure for the caller.
type Kind int

// The kinds of failure a caller can act on.
const (
	KindInternal Kind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindUnauthorized
	KindForbidden
	KindUnavailable
	KindTooMany
	KindTooLarge
	// KindMethodNotAllowed is a known resource asked with a method it
	// does not answer; the edge says which methods it does.
	KindMethodNotAllowed
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindUnavailable:
		return "unavailable"
	case KindTooMany:
		return "too_many_requests"
	case KindTooLarge:
		return "too_large"
	case KindMethodNotAllowed:
		return "method_not_allowed"
	default:
		return "internal"
	}
}

// Error is a classified failure. Field names the input at fault, when one is.
type Error struct {
	Kind    Kind
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid reports bad input in field.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// NotFound reports that the thing asked for does not exist.
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

// Conflict reports a request that clashes with the current state.
func Conflict(format string, args ...any) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, args...)}
}

// Unauthorized reports a caller who has not proved who they are.
func Unauthorized(format string, args ...any) error {
	return &Error{Kind: KindUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// Forbidden reports a caller who may not do this.
func Forbidden(format string, args ...any) error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// Unavailable reports a dependency that is down; the caller may retry.
func Unavailable(err error, format string, args ...any) error {
	return &Error{Kind: KindUnavailable, Message: fmt.Sprintf(format, args...), Err: err}
}

// TooMany reports a caller over a limit on how much it may do at once or
// how often; it may try again later.
func TooMany(format string, args ...any) error {
	return &Error{Kind: KindTooMany, Message: fmt.Sprintf(format, args...)}
}

// TooLarge reports input in field over the size the caller may send.
func TooLarge(field, format string, args ...any) error {
	return &Error{Kind: KindTooLarge, Field: field, Message: fmt.Sprintf(format, args...)}
}

// MethodNotAllowed reports a request whose path exists but not with its
// method.
func MethodNotAllowed(format string, args ...any) error {
	return &Error{Kind: KindMethodNotAllowed, Message: fmt.Sprintf(format, args...)}
}

// KindOf finds the kind of err; unclassified errors are internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// FieldOf finds the field an invalid error names, if any.
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
