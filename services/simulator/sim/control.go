package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
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
	to := queryNumber(r, "to")
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || to != "" {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: "since must be a non-negative integer, without to"})
			return
		}
		writeJSON(w, http.StatusOK, outboxJSON{Messages: s.msgs.since(n)})
		return
	}
	writeJSON(w, http.StatusOK, outboxJSON{Messages: s.msgs.list(to)})
}

// statsJSON is the body of GET /sim/stats.
type statsJSON struct {
	Messages   int            `json:"messages"`
	Count      int            `json:"count"`
	SentTo     *int           `json:"sent_to,omitempty"`
	Duplicates map[string]int `json:"duplicates"`
	Emails     int            `json:"emails"`
}

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	out := statsJSON{Messages: s.Len(), Count: s.Count(), Duplicates: s.Duplicates(), Emails: s.emails.length()}
	if to := queryNumber(r, "to"); to != "" {
		n := s.SentTo(to)
		out.SentTo = &n
	}
	writeJSON(w, http.StatusOK, out)
}

// queryNumber reads a phone number from the query string. An unescaped "+"
// decodes as a space; undo that so ?to=+15551234567 works as written.
func queryNumber(r *http.Request, name string) string {
	v := r.URL.Query().Get(name)
	if strings.HasPrefix(v, " ") {
		v = "+" + strings.TrimLeft(v, " ")
	}
	return v
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

// faultJSON is a fault rule as the /sim fault routes read and show it;
// hold is a duration such as "2s".
type faultJSON struct {
	To      string    `json:"to,omitempty"`
	Every   int       `json:"every,omitempty"`
	Percent float64   `json:"percent,omitempty"`
	Seed    uint64    `json:"seed,omitempty"`
	Count   int       `json:"count,omitempty"`
	Kind    FaultKind `json:"kind"`
	Hold    string    `json:"hold,omitempty"`
}

// faultStateJSON is a rule with its counters in GET /sim/faults.
type faultStateJSON struct {
	faultJSON
	Seen  int `json:"seen"`
	Fired int `json:"fired"`
}

type faultsRequest struct {
	Rules []faultJSON `json:"rules"`
}

type faultsResponse struct {
	Rules []faultStateJSON `json:"rules"`
}

func faultStatesJSON(states []FaultState) faultsResponse {
	out := faultsResponse{Rules: make([]faultStateJSON, len(states))}
	for i, st := range states {
		f := st.Fault
		fj := faultJSON{To: f.To, Every: f.Every, Percent: f.Percent, Seed: f.Seed, Count: f.Count, Kind: f.Kind}
		if f.Hold > 0 {
			fj.Hold = f.Hold.String()
		}
		out.Rules[i] = faultStateJSON{faultJSON: fj, Seen: st.Seen, Fired: st.Fired}
	}
	return out
}

func (s *Server) handleFaults(fs *faultSet) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, faultStatesJSON(fs.states()))
	}
}

func (s *Server) handleFaultsPut(fs *faultSet) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req faultsRequest
		if !decodeStrict(w, r, &req) {
			return
		}
		rules := make([]Fault, len(req.Rules))
		for i, fj := range req.Rules {
			rules[i] = Fault{To: fj.To, Every: fj.Every, Percent: fj.Percent, Seed: fj.Seed, Count: fj.Count, Kind: fj.Kind}
			if fj.Hold != "" {
				d, err := time.ParseDuration(fj.Hold)
				if err != nil || d < 0 {
					writeJSON(w, http.StatusBadRequest, errorJSON{Error: fmt.Sprintf("rule %d: hold %q: want a duration like 2s", i, fj.Hold)})
					return
				}
				rules[i].Hold = d
			}
		}
		if err := fs.set(rules); err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, faultStatesJSON(fs.states()))
	}
}

func (s *Server) handleFaultsDelete(fs *faultSet) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		_ = fs.set(nil) // no rules are always valid
		w.WriteHeader(http.StatusNoContent)
	}
}

// decodeStrict is decodeControl refusing unknown fields, so a misspelt
// setting is an error rather than silently ignored.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "decode json body: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) handleSettings(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.settings.snapshot())
}

func (s *Server) handleSettingsPatch(w http.ResponseWriter, r *http.Request) {
	var req settingsJSON
	if !decodeStrict(w, r, &req) {
		return
	}
	if err := s.settings.apply(req); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, s.settings.snapshot())
}

// publicKeyJSON is the body of GET /sim/sendgrid/public-key and, with
// Enabled, of SendGrid's signed event webhook settings route.
type publicKeyJSON struct {
	Enabled   *bool  `json:"enabled,omitempty"`
	PublicKey string `json:"public_key"`
}

func (s *Server) handlePublicKey(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, publicKeyJSON{PublicKey: s.SendGridPublicKey()})
}

// handleSignedSettings serves GET /v3/user/webhooks/event/settings/signed
// as SendGrid does, so the platform can fetch the verification key.
func (s *Server) handleSignedSettings(w http.ResponseWriter, r *http.Request) {
	if !s.sendGridAuthorized(r) {
		writeJSON(w, http.StatusUnauthorized, sgErrors{Errors: []sgError{{
			Message: "The provided authorization grant is invalid, expired, or revoked",
		}}})
		return
	}
	enabled := true
	writeJSON(w, http.StatusOK, publicKeyJSON{Enabled: &enabled, PublicKey: s.SendGridPublicKey()})
}

// maxEventsBody caps the body of POST /sim/sendgrid/events.
const maxEventsBody = 16 << 20

// handleEmailEvents signs the posted JSON array of events and posts it,
// byte for byte, to the event webhook.
func (s *Server) handleEmailEvents(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventsBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "read body: " + err.Error()})
		return
	}
	var events []map[string]any
	if err := json.Unmarshal(raw, &events); err != nil || events == nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "body must be a JSON array of event objects"})
		return
	}
	code, err := s.postEvents(r.Context(), raw)
	switch {
	case errors.Is(err, ErrNoEventWebhookURL):
		writeJSON(w, http.StatusConflict, errorJSON{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, callbackResponse{StatusCode: code})
	}
}
