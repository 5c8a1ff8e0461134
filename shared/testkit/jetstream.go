package testkit

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RawJetStream measures the broker's own ceiling, which Muster's rates are
// read against: it publishes n messages asynchronously with message ids
// to a file-backed stream of the given replicas while a consumer acks
// them explicitly, and returns messages per second from the first publish
// to the last ack. opts say who connects (an admin: the stream is not
// one of Muster's).
func RawJetStream(tb testing.TB, url string, n, replicas int, opts ...nats.Option) float64 {
	tb.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		tb.Fatal(err)
	}
	name := "BENCHRAW"
	s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"benchraw.>"},
		Storage: jetstream.FileStorage, Replicas: max(replicas, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = js.DeleteStream(ctx, name) }()
	cons, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20_000})
	if err != nil {
		tb.Fatal(err)
	}
	var acked atomic.Int64
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		_ = m.Ack()
		if acked.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	defer cc.Stop()
	payload := make([]byte, 400) // about the size of a send request
	start := time.Now()
	for i := range n {
		// A replicated stream that fsyncs can fall behind a burst; wait
		// for room rather than fail.
		if _, err := js.PublishAsync("benchraw.x", payload, jetstream.WithMsgID(strconv.Itoa(i)), jetstream.WithStallWait(time.Minute)); err != nil {
			tb.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(2 * time.Minute):
		tb.Fatal("publishes not acknowledged")
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		tb.Fatalf("only %d of %d consumed", acked.Load(), n)
	}
	return float64(n) / time.Since(start).Seconds()
}
