package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/musterhq/muster/services/console/limit"
	"github.com/musterhq/muster/services/console/upstream"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// proxy passes a service's answer through: status, type and body. Errors
// are answered in the console's own way for the caller (JSON or a page).
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, c *upstream.Client, method, path string, body io.Reader) {
	resp, err := c.Raw(r.Context(), method, path, body, "application/json")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Disposition"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	// A download (a CSV export) may outlast the server's write timeout.
	relay(w, resp.Body, func() {})
}

// relay copies src to w until either ends, giving each stretch of copying
// its own write window (web.KeepWriting), so a download or an event
// stream may outlast the server's write timeout; flush runs after each.
func relay(w http.ResponseWriter, src io.Reader, flush func()) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if web.KeepWriting(w) != nil {
				return
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			flush()
		}
		if err != nil {
			return
		}
	}
}

// stream relays a server-sent event stream, flushing as events arrive,
// until the client or the service goes away.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, c *upstream.Client, path string) {
	release, ok := s.slot(w, r, s.Streams, "live result streams")
	if !ok {
		return
	}
	defer release()
	resp, err := c.Raw(r.Context(), http.MethodGet, path, nil, "")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	defer resp.Body.Close()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	// Each event (or heartbeat) reaches the browser at once.
	relay(w, resp.Body, func() { _ = rc.Flush() })
}

// slot takes one of the caller's slots for a long request, or answers
// 429 and reports false.
func (s *Server) slot(w http.ResponseWriter, r *http.Request, slots *limit.Slots, what string) (func(), bool) {
	release, err := slots.Acquire(r.Context(), principalOf(r).ID)
	switch {
	case errors.Is(err, limit.ErrCallerFull):
		s.failErr(w, r, apperr.TooMany("you have as many %s open as allowed; close one and try again", what))
		return nil, false
	case errors.Is(err, limit.ErrAllFull):
		s.failErr(w, r, apperr.TooMany("the console has as many %s open as it allows; try again in a minute", what))
		return nil, false
	case err != nil:
		s.failErr(w, r, apperr.Unavailable(err, "%s are unavailable just now", what))
		return nil, false
	}
	return release, true
}

func jsonDecode(r io.Reader, v any) error {
	if err := json.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("decoding service answer: %w", err)
	}
	return nil
}

// download passes a service's CSV export through once the service has
// started it, recording in the audit log who took it (an export of member
// data leaves the console for good). A service that breaks off part-way
// (an export whose database read failed aborts its connection) has the
// caller's answer broken off too: ended cleanly, a truncated file would
// pass for a whole one.
func (s *Server) download(w http.ResponseWriter, r *http.Request, c *upstream.Client, path, action, target, detail string) {
	resp, err := c.Raw(r.Context(), http.MethodGet, path, nil, "")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	defer resp.Body.Close()
	s.audit(r, principalOf(r), action, target, detail)
	for _, h := range []string{"Content-Type", "Content-Disposition"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	src := &watchedReader{r: resp.Body}
	relay(w, src, func() {})
	if src.err != nil {
		panic(http.ErrAbortHandler) // net/http's way to cut a response short
	}
}

// watchedReader remembers why its source stopped, when it was not EOF:
// the HTTP client or the relay reading it does not say.
type watchedReader struct {
	r   io.Reader
	err error
}

func (b *watchedReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}
