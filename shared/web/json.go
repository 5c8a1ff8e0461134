// Package web holds the HTTP plumbing every Muster service shares: JSON in
// and out, the mapping from apperr kinds to status codes, and a server with
// health, readiness, metrics and graceful shutdown.
package web

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/tracing"
)

// MaxJSONBody bounds every JSON request body a service reads.
const MaxJSONBody = 1 << 20

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
	Field string `json:"field,omitempty"`
	// RequestID names a failure of ours (5xx) in the log, where its
	// detail is; a caller quotes it instead of seeing that detail.
	RequestID string `json:"request_id,omitempty"`
}

// RequestID is the id a failed request is logged and answered under: the
// X-Request-Id a proxy set, when it is a plain token, else a new one.
// It is also set on the response, so even a plain-text answer carries it.
func RequestID(w http.ResponseWriter, r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if !plainToken(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	w.Header().Set("X-Request-Id", id)
	return id
}

// plainToken accepts what is safe to log and echo: 1 to 64 letters,
// digits, '-', '_' and '.'.
func plainToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// Fail answers a request that failed on our side (a 5xx) with the JSON
// error shape: no more than the error's kind and a request id, while the
// whole error is logged once, here, under that id with fields.
func Fail(w http.ResponseWriter, r *http.Request, log *zap.Logger, status int, msg string, err error, fields ...zap.Field) {
	id := RequestID(w, r)
	log.Error(msg, append(fields, zap.String("request_id", id), tracing.ID(r.Context()), zap.Int("status", status), zap.Error(err))...)
	body := BodyOf(err)
	if status == http.StatusServiceUnavailable && body.Kind != apperr.KindUnavailable.String() {
		body = ErrorBody{Error: "unavailable, try again", Kind: apperr.KindUnavailable.String()} // a cancelled request
	}
	if status >= 500 && body.Kind == apperr.KindInternal.String() {
		body.Error = "internal error"
	}
	body.RequestID = id
	WriteJSON(w, status, body)
}

// WriteJSON writes v with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// StatusOf maps an error's kind to an HTTP status.
func StatusOf(err error) int {
	switch apperr.KindOf(err) {
	case apperr.KindInvalid:
		return http.StatusBadRequest
	case apperr.KindNotFound:
		return http.StatusNotFound
	case apperr.KindConflict:
		return http.StatusConflict
	case apperr.KindUnauthorized:
		return http.StatusUnauthorized
	case apperr.KindForbidden:
		return http.StatusForbidden
	case apperr.KindUnavailable:
		return http.StatusServiceUnavailable
	case apperr.KindTooMany:
		return http.StatusTooManyRequests
	case apperr.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.KindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	default:
		return http.StatusInternalServerError
	}
}

// WriteError answers with err's status and a JSON body. Internal errors are
// logged here, once, and their detail is not shown to the caller; client
// errors are the caller's to read and are not logged.
func WriteError(w http.ResponseWriter, r *http.Request, log *zap.Logger, err error) {
	status := StatusOf(err)
	if status >= 500 {
		Fail(w, r, log, status, "request failed", err, zap.String("method", r.Method), zap.String("path", r.URL.Path))
		return
	}
	WriteJSON(w, status, BodyOf(err))
}

// BodyOf is what a caller is shown of err. A client error (4xx) says what
// was wrong; a failure of ours (5xx) says no more than its kind and, for
// an unavailable dependency, the message written for the caller, without
// the error under it: that text may name a host, a database or a query.
// Whoever answers logs the whole error once.
func BodyOf(err error) ErrorBody {
	kind := apperr.KindOf(err)
	switch status := StatusOf(err); {
	case status == http.StatusServiceUnavailable:
		msg := "unavailable, try again"
		var e *apperr.Error
		if errors.As(err, &e) && e.Message != "" {
			msg = e.Message
		}
		return ErrorBody{Error: msg, Kind: kind.String()}
	case status >= 500:
		return ErrorBody{Error: "internal error", Kind: apperr.KindInternal.String()}
	}
	return ErrorBody{Error: err.Error(), Kind: kind.String(), Field: apperr.FieldOf(err)}
}

// LimitBody bounds r's body at n bytes: a read past it fails with an
// error ReadError turns into 413. Every handler that reads a body bounds
// it, through this or DecodeJSON.
func LimitBody(r *http.Request, n int64) {
	// No ResponseWriter: the server is not asked to close the connection,
	// so a caller over the limit still gets the JSON answer; net/http
	// drains or drops what is left of the body afterwards.
	r.Body = http.MaxBytesReader(nil, r.Body, n)
}

// ReadError classifies an error reading a request body: a body over the
// limit LimitBody set is too large (413), anything else unreadable (400).
func ReadError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return apperr.TooLarge("body", "larger than %d bytes", tooBig.Limit)
	}
	return apperr.Invalid("body", "could not be read")
}

// DecodeJSON reads a JSON body of at most MaxJSONBody bytes into v (413
// when it is larger), refusing unknown fields so a typo in a request is an
// error rather than a silently ignored setting.
func DecodeJSON(r *http.Request, v any) error {
	LimitBody(r, MaxJSONBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return ReadError(err)
		case errors.As(err, &typ):
			return apperr.Invalid(typ.Field, "wrong type: want %s", typ.Type)
		case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return apperr.Invalid("body", "not valid JSON")
		default:
			return apperr.Invalid("body", "%s", err.Error())
		}
	}
	if dec.More() {
		return apperr.Invalid("body", "more than one JSON value")
	}
	return nil
}

// Errorf is a convenience for an invalid-input error naming no field.
func Errorf(format string, args ...any) error {
	return apperr.Invalid("", "%s", fmt.Sprintf(format, args...))
}
