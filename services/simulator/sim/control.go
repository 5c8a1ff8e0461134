package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

const maxControlBody = 1 << 20

// outboxJSON is the body of GET /sim/outbox.
type outboxJSON struct {
	Messages []Message `json:"messages"`
}

// callbackRequest is the body of POST /sim/callbacks.
type callbackRequest struct {
	Sid       string `json:"sid"`
	Status    string `json:"status"`
	ErrorCode string `json:"error_code"`
}

// callbackResponse is the answer of POST /sim/callbacks.
type callbackResponse struct {
	StatusCode int `json:"status_code"`
}

func (s *Server) handleOutbox(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("to")
	// An unescaped "+" in a query string decodes as a space; undo that so
	// ?to=+15551234567 works as written.
	if strings.HasPrefix(to, " ") {
		to = "+" + strings.TrimLeft(to, " ")
	}
	writeJSON(w, http.StatusOK, outboxJSON{Messages: s.msgs.list(to)})
}

func (s *Server) handleOutboxReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "decode json body: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) handleReply(w http.ResponseWriter, r *http.Request) {
	var req Reply
	if !decodeControl(w, r, &req) {
		return
	}
	res, err := s.SendReply(r.Context(), req)
	switch {
	case errors.Is(err, ErrInvalidReply):
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
	case errors.Is(err, ErrNoInboundURL):
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	var req callbackRequest
	if !decodeControl(w, r, &req) {
		return
	}
	code, err := s.SendStatusCallback(r.Context(), req.Sid, req.Status, req.ErrorCode)
	switch {
	case errors.Is(err, ErrInvalidStatus):
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
	case errors.Is(err, ErrUnknownMessage):
		writeJSON(w, http.StatusNotFound, errorJSON{Error: err.Error()})
	case errors.Is(err, ErrNoStatusCallback):
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, callbackResponse{StatusCode: code})
	}
}
