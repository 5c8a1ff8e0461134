package sim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TestManyConcurrentSends sends messages from many goroutines through the
// real client with automatic callbacks on, and checks nothing is lost,
// duplicated or reordered.
func TestManyConcurrentSends(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	const senders = 16

	var mu sync.Mutex
	seen := map[string][]string{} // sid -> statuses in arrival order
	var total int
	done := make(chan struct{})
	hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		mu.Lock()
		sid := r.PostForm.Get("MessageSid")
		seen[sid] = append(seen[sid], r.PostForm.Get("MessageStatus"))
		total++
		if total == 2*n {
			close(done)
		}
		mu.Unlock()
	}))
	t.Cleanup(hookSrv.Close)

	h := newHarness(t, Config{AutoCallbacks: true})
	jobs := make(chan int)
	var wg sync.WaitGroup
	sids := make([]string, n)
	for range senders {
		wg.Go(func() {
			for i := range jobs {
				msg, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo("+1555000" + pad4(i)).
					SetFrom("+15550001111").SetBody("msg " + pad4(i)).SetStatusCallback(hookSrv.URL + "/status"))
				if err != nil {
					t.Errorf("CreateMessage %d: %v", i, err)
					continue
				}
				sids[i] = *msg.Sid
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	select {
	case <-done:
	case <-time.After(60 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("got %d of %d callbacks", total, 2*n)
	}

	if h.sim.Count() != n || h.sim.Len() != n || len(h.sim.Duplicates()) != 0 || h.sim.SentTo("+1555000"+pad4(n-1)) != 1 {
		t.Errorf("count %d, len %d, duplicates %v, want %d distinct sends", h.sim.Count(), h.sim.Len(), h.sim.Duplicates(), n)
	}
	out := h.sim.Outbox()
	if len(out) != n {
		t.Fatalf("outbox has %d messages, want %d", len(out), n)
	}
	bySid := map[string]Message{}
	for _, m := range out {
		bySid[m.Sid] = m
	}
	if len(bySid) != n {
		t.Errorf("%d distinct sids, want %d", len(bySid), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, sid := range sids {
		m, ok := bySid[sid]
		if !ok || m.Body != "msg "+pad4(i) {
			t.Errorf("message %d (%s) missing or wrong: %+v", i, sid, m)
			continue
		}
		if got := strings.Join(seen[sid], ","); got != "sent,delivered" {
			t.Errorf("message %d callbacks = %s, want sent,delivered", i, got)
		}
	}
}

func pad4(i int) string { return fmt.Sprintf("%04d", i) }

// BenchmarkCreateMessage measures the Twilio send handler alone.
func BenchmarkCreateMessage(b *testing.B) {
	s := New(Config{}, nil)
	defer s.Close()
	handler := s.Handler()
	form := url.Values{"To": {"+15552013344"}, "From": {"+15550001111"}, "Body": {"Practice moved to 6pm"},
		"StatusCallback": {"http://127.0.0.1:1/status"}}.Encode()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/2010-04-01/Accounts/"+DefaultAccountSID+"/Messages.json", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(DefaultAccountSID, DefaultAuthToken)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("status = %d", rec.Code)
			}
		}
	})
}
