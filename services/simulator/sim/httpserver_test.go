package sim

import (
	"net/http"
	"testing"
)

// The simulator's server bounds slow clients, and its write timeout stays
// above the longest hold a fault may ask for by default.
func TestHTTPServerHasTimeouts(t *testing.T) {
	s := NewHTTPServer(http.NotFoundHandler())
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Fatalf("timeouts = header %v, read %v, write %v, idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	if s.WriteTimeout <= DefaultFaultHold {
		t.Errorf("write timeout %v would cut a default fault hold of %v", s.WriteTimeout, DefaultFaultHold)
	}
}
