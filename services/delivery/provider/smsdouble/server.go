// Package smsdouble is a second SMS provider, for tests: a fake API
// (Server) with its own wire format, status words and fault codes, and
// the small adapter (Client, Reports) that maps them onto delivery's
// neutral provider vocabulary as package twilio maps Twilio's. Nothing
// in production wires it; it runs the SMS pipeline's tests a second
// time, showing that a new provider is a package plus wiring.
package smsdouble

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The double's API.
const (
	// TextsPath takes one text, as JSON.
	TextsPath = "/v2/texts"
	// KeyHeader carries the API key; SignatureHeader signs a delivery
	// report (hex HMAC-SHA256 of the body under the key).
	KeyHeader       = "X-Double-Key"
	SignatureHeader = "X-Double-Signature"
)

// The double's states, in its own words.
const (
	StateEnqueued   = "ENQUEUED"
	StateHandedOver = "HANDED_OVER"
	StateReceived   = "HANDSET_RECEIVED"
	StateLost       = "NOT_RECEIVED"
	StateRejected   = "REJECTED"
)

// The double's fault codes.
const (
	FaultOptedOut   = "RECIPIENT_OPTED_OUT"
	FaultBadNumber  = "NUMBER_NOT_VALID"
	FaultKeyRevoked = "KEY_REVOKED"
	FaultSlowDown   = "SLOW_DOWN"
)

// textRequest is what the double's API takes.
type textRequest struct {
	Recipient  string `json:"recipient"`
	Originator string `json:"originator"`
	Content    string `json:"content"`
	Ref        string `json:"ref"`
	NotifyURL  string `json:"notify_url"`
	TTLSeconds int    `json:"ttl_s,omitempty"`
}

// report is a delivery report the double posts to a text's notify_url.
type report struct {
	TextID string `json:"text_id"`
	Ref    string `json:"ref"`
	State  string `json:"state"`
	Fault  string `json:"fault,omitempty"`
}

// Server is the fake provider. Accepted texts get two delivery reports,
// posted out of order (HANDSET_RECEIVED before HANDED_OVER) as real
// providers sometimes do.
type Server struct {
	key string
	hc  *http.Client

	mu       sync.Mutex
	seq      int
	sent     map[string]int
	optedOut map[string]bool
	invalid  map[string]bool
	revoked  bool

	reports sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

// NewServer builds a double that accepts key.
func NewServer(key string) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{key: key, hc: &http.Client{Timeout: 5 * time.Second}, sent: map[string]int{}, optedOut: map[string]bool{},
		invalid: map[string]bool{}, ctx: ctx, cancel: cancel}
}

// Close stops posting reports and waits for those under way.
func (s *Server) Close() {
	s.cancel()
	s.reports.Wait()
}

// OptOut makes the double refuse texts to number: its owner opted out.
func (s *Server) OptOut(number string) { s.mu.Lock(); s.optedOut[number] = true; s.mu.Unlock() }

// Invalid makes the double refuse texts to number as no valid number.
func (s *Server) Invalid(number string) { s.mu.Lock(); s.invalid[number] = true; s.mu.Unlock() }

// Revoke refuses (true) or accepts again (false) every key.
func (s *Server) Revoke(revoked bool) { s.mu.Lock(); s.revoked = revoked; s.mu.Unlock() }

// SentTo counts the texts the double accepted for number.
func (s *Server) SentTo(number string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.sent[number] }

// Handler serves the double's API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+TextsPath, s.text)
	return mux
}

func (s *Server) text(w http.ResponseWriter, r *http.Request) {
	var req textRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Recipient == "" || req.Content == "" {
		fault(w, http.StatusBadRequest, "MALFORMED")
		return
	}
	s.mu.Lock()
	switch {
	case s.revoked || !hmac.Equal([]byte(r.Header.Get(KeyHeader)), []byte(s.key)):
		s.mu.Unlock()
		fault(w, http.StatusUnauthorized, FaultKeyRevoked)
		return
	case s.optedOut[req.Recipient]:
		s.mu.Unlock()
		fault(w, http.StatusUnprocessableEntity, FaultOptedOut)
		return
	case s.invalid[req.Recipient]:
		s.mu.Unlock()
		fault(w, http.StatusUnprocessableEntity, FaultBadNumber)
		return
	}
	s.seq++
	id := fmt.Sprintf("tx-%06d", s.seq)
	s.sent[req.Recipient]++
	s.mu.Unlock()
	if req.NotifyURL != "" {
		s.reports.Add(1)
		go s.report(req.NotifyURL, []report{{TextID: id, Ref: req.Ref, State: StateReceived}, {TextID: id, Ref: req.Ref, State: StateHandedOver}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"text_id": id, "state": StateEnqueued})
}

// report posts a text's reports in turn, retrying each a few times until
// it is taken with a 2xx.
func (s *Server) report(url string, rs []report) {
	defer s.reports.Done()
	for _, rep := range rs {
		body, _ := json.Marshal(rep)
		for try := 0; try < 20; try++ {
			if s.post(url, body) {
				break
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

func (s *Server) post(url string, body []byte) bool {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(s.key, body))
	resp, err := s.hc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// Sign is a report's signature under key.
func Sign(key string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func fault(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"fault": code})
}
