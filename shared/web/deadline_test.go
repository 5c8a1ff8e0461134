package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// startServer serves routes; tweak, when not nil, sees the http.Server
// before it serves.
func startServer(t *testing.T, routes http.Handler, tweak func(*http.Server)) *Server {
	t.Helper()
	srv, err := NewServer("127.0.0.1:0", routes, prometheus.NewRegistry(), nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(srv.srv)
	}
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// Every server has read, write and idle timeouts; an answer that takes
// longer than the write timeout is cut unless it keeps extending its own
// window with KeepWriting, as streams and downloads do.
func TestWriteTimeoutAndKeepWriting(t *testing.T) {
	routes := chi.NewRouter()
	slow := func(keep bool) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			rc := http.NewResponseController(w)
			for i := range 6 {
				if keep {
					if err := KeepWriting(w); err != nil {
						t.Errorf("KeepWriting: %v", err) // the server's wrappers must allow it
						return
					}
				}
				if _, err := io.WriteString(w, "chunk\n"); err != nil {
					return
				}
				_ = rc.Flush()
				if i < 5 {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}
	}
	routes.Get("/stream", slow(true))
	routes.Get("/stalls", slow(false))
	srv := startServer(t, routes, func(h *http.Server) {
		if h.ReadHeaderTimeout <= 0 || h.ReadTimeout <= 0 || h.WriteTimeout <= 0 || h.IdleTimeout <= 0 {
			t.Fatalf("timeouts = header %v, read %v, write %v, idle %v", h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout)
		}
		h.WriteTimeout = 250 * time.Millisecond // the test need not wait a minute
	})

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	if got := get("/stream"); got != strings.Repeat("chunk\n", 6) {
		t.Errorf("a stream that keeps writing was cut: %q", got)
	}
	if got := get("/stalls"); bytes.Count([]byte(got), []byte("chunk")) >= 6 {
		t.Errorf("an answer past the write timeout was not cut: %q", got)
	}
}
