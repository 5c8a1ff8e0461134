// Package web holds the HTTP plumbing every Muster service shares: JSON in
// and out, the mapping from apperr kinds to status codes, and a server with
// health, readiness, metrics and graceful shutdown.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
)

// MaxJSONBody bounds every JSON request body a service reads.
const MaxJSONBody = 1 << 20

// ErrorBody is the JSON shape of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
	Field string `json:"field,omitempty"`
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
		log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
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
