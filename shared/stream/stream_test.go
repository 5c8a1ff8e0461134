package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

func setup(t *testing.T) jetstream.JetStream {
	t.Helper()
	n := testkit.StartNATS(t)
	nc, js, err := stream.Connect(n.URL(), t.Name(), zaptest.NewLogger(t), n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := stream.EnsureStreams(context.Background(), js, stream.Topology{}); err != nil {
		t.Fatal(err)
	}
	// Declaring twice must be harmless: every service does it at start-up.
	if err := stream.EnsureStreams(context.Background(), js, stream.Topology{}); err != nil {
		t.Fatalf("second EnsureStreams: %v", err)
	}
	return js
}

func TestPublishDedupesByID(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	for range 3 {
		if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "key-1", map[string]string{"a": "b"}); err != nil {
			t.Fatal(err)
		}
	}
	s, err := js.Stream(ctx, events.StreamSend)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("stored %d messages for one id, want 1", info.State.Msgs)
	}
}

func TestRunnerAcksRetriesAndDeadLetters(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	log := zaptest.NewLogger(t)

	h, count := scripted()
	r, err := stream.Run(ctx, js, stream.Consumer{
		Stream: events.StreamSend, Durable: "test", Workers: 4, MaxAttempts: 3,
	}, h, log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)

	subj := events.SendSubject(events.ChannelSMS)
	for _, id := range []string{"ok", "retry-once", "always-fails"} {
		if err := stream.Publish(ctx, js, subj, id, map[string]string{"id": id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Publish(ctx, subj, []byte("not json")); err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, "retry to succeed", func() bool { return count("retry-once") == 2 })
	testkit.Eventually(t, "failing message to use its attempts", func() bool { return count("always-fails") == 3 })

	dl, err := js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "two dead letters", func() bool {
		info, err := dl.Info(ctx)
		return err == nil && info.State.Msgs == 2
	})
	got := deadLetters(t, js)
	if !(contains(got, `{"id":"always-fails"}`) && contains(got, "not json")) {
		t.Errorf("dead letters = %q", got)
	}
	if count("ok") != 1 {
		t.Errorf("ok handled %d times, want 1", count("ok"))
	}

	// The SEND work queue is empty once everything is acked or terminated.
	s, _ := js.Stream(ctx, events.StreamSend)
	testkit.Eventually(t, "work queue to empty", func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
}

func TestRunnerSurvivesBrokerRestart(t *testing.T) {
	n := testkit.StartNATS(t)
	log := zaptest.NewLogger(t)
	nc, js, err := stream.Connect(n.URL(), t.Name(), log, n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()
	if err := stream.EnsureStreams(ctx, js, stream.Topology{}); err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	r, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamSend, Durable: "restart"},
		func(context.Context, stream.Msg) error { handled.Add(1); return nil }, log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)
	if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "a", 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "first message", func() bool { return handled.Load() == 1 })

	n.Stop()
	n.Start()
	pubCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := stream.PublishEventually(pubCtx, js, events.SendSubject(events.ChannelSMS), "b", 2); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "message after restart", func() bool { return handled.Load() == 2 })
}

// scripted is a handler that counts the messages it sees by their "id":
// "retry-once" asks for a retry the first time, "always-fails" always
// fails, and anything that is not a JSON object can never succeed.
func scripted() (h stream.Handler, count func(id string) int) {
	var mu sync.Mutex
	seen := map[string]int{}
	h = func(_ context.Context, m stream.Msg) error {
		var v map[string]string
		if err := json.Unmarshal(m.Data, &v); err != nil {
			return stream.Permanent(err)
		}
		mu.Lock()
		seen[v["id"]]++
		n := seen[v["id"]]
		mu.Unlock()
		switch v["id"] {
		case "retry-once":
			if n == 1 {
				return stream.Retry(errors.New("redis down"), 10*time.Millisecond)
			}
		case "always-fails":
			return errors.New("boom")
		}
		return nil
	}
	return h, func(id string) int { mu.Lock(); defer mu.Unlock(); return seen[id] }
}

// deadLetters reads the data of every dead letter, checking that each
// names the test's consumer and an error.
func deadLetters(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx := context.Background()
	dl, err := js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		raw, err := dl.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var d events.DeadLettered
		if err := json.Unmarshal(raw.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d.Consumer != "test" || d.Error == "" {
			t.Errorf("dead letter lacks consumer or error: %+v", d)
		}
		got = append(got, string(d.Data))
	}
	return got
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// A handler that runs longer than AckWait keeps its message: it is not
// handed to a second worker while the first is still busy.
func TestSlowHandlerIsNotRedelivered(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	var calls atomic.Int64
	r, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamSend, Durable: "slow", Workers: 2, AckWait: 300 * time.Millisecond},
		func(context.Context, stream.Msg) error {
			calls.Add(1)
			time.Sleep(time.Second)
			return nil
		}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)
	if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "slow-1", 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("handled %d times, want once", n)
	}
}

// Large messages in large pulls: one pull for thousands of 60 KB messages
// once passed the server's 64 MB per-client limit, the server cut the
// connection as a slow consumer, and what it had delivered waited out
// AckWait before anyone saw it again. Every message must arrive once.
func TestLargeMessagesArriveWithoutRedelivery(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	const n = 2500
	payload := strings.Repeat("x", 60<<10)
	for i := range n {
		if _, err := js.PublishAsync(events.SendSubject(events.ChannelEmail), []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			<-js.PublishAsyncComplete()
		}
	}
	<-js.PublishAsyncComplete()
	var handled, again atomic.Int64
	r, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamSend, Durable: "large", Workers: 2000, AckWait: time.Minute},
		func(_ context.Context, m stream.Msg) error {
			handled.Add(1)
			if m.Deliveries > 1 {
				again.Add(1)
			}
			return nil
		}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)
	// Well under AckWait: a dropped delivery would not be back by then.
	testkit.Eventually(t, "every large message", func() bool { return handled.Load() >= n })
	if a := again.Load(); a != 0 {
		t.Fatalf("%d of %d messages were delivered again", a, n)
	}
}
