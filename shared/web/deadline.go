package web

import (
	"net/http"
	"time"
)

// The server's timeouts. A request's headers must arrive within
// ReadHeaderTimeout and its body within ReadTimeout; its answer must be
// written within WriteTimeout of the headers arriving; a kept-alive
// connection is closed after IdleTimeout without a request. Answers that
// legitimately take longer (event streams, CSV downloads, uploads) extend
// their own deadlines with KeepWriting and AllowUpload, so a slow or
// stalled client can hold a connection only for as long as it keeps up.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
)

// StreamWriteWindow is how long a stream or a download may take over its
// next stretch of writing: an event with its heartbeat, or a batch of CSV
// rows. A client that stops reading for this long is dropped.
const StreamWriteWindow = 30 * time.Second

// KeepWriting moves the answer's write deadline StreamWriteWindow past
// now. Streams call it before each write, downloads before each batch of
// rows. Deadlines are network time, so this reads the wall clock, not a
// service's injected clock.
func KeepWriting(w http.ResponseWriter) error {
	return http.NewResponseController(w).SetWriteDeadline(time.Now().Add(StreamWriteWindow))
}

// AllowUpload gives a request whose body is a large upload d to arrive,
// and WriteTimeout after that to be answered.
func AllowUpload(w http.ResponseWriter, d time.Duration) error {
	rc := http.NewResponseController(w)
	now := time.Now()
	if err := rc.SetReadDeadline(now.Add(d)); err != nil {
		return err
	}
	return rc.SetWriteDeadline(now.Add(d + WriteTimeout))
}
