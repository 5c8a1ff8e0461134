package stream_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// Lag, unanswered and dead letters are read from JetStream at each
// scrape; a consumer JetStream does not know is reported down, with no
// made-up numbers beside it.
func TestGaugesReportLagAndDeadLetters(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	subj := events.SendSubject(events.ChannelSMS)

	// A consumer that has handled one message and given up on another,
	// then stopped: three more wait for it.
	handled := make(chan struct{}, 2)
	r, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamSend, Durable: "lagging", MaxAttempts: 1},
		func(_ context.Context, m stream.Msg) error {
			defer func() { handled <- struct{}{} }()
			if strings.Contains(string(m.Data), "bad") {
				return stream.Permanent(errors.New("cannot decode"))
			}
			return nil
		}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"good", "bad"} {
		if err := stream.Publish(ctx, js, subj, id, map[string]string{"id": id}); err != nil {
			t.Fatal(err)
		}
	}
	<-handled
	<-handled
	r.Stop(ctx)
	// An acknowledgement is a message to the server, not a call it
	// answers: wait until the server has both, so the scrape reads a
	// settled consumer.
	testkit.Eventually(t, "the server to have both acknowledgements", func() bool {
		c, err := js.Consumer(ctx, events.StreamSend, "lagging")
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0
	})
	for _, id := range []string{"a", "b", "c"} {
		if err := stream.Publish(ctx, js, subj, id, map[string]string{"id": id}); err != nil {
			t.Fatal(err)
		}
	}

	g := stream.NewGauges(js)
	g.Watch(events.StreamSend, "lagging")
	g.Watch(events.StreamSend, "lagging") // twice is once
	g.Watch(events.StreamSend, "never-declared")
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)

	want := `# HELP muster_dead_letters Messages the consumer gave up on, kept in the DEADLETTER stream for an operator.
# TYPE muster_dead_letters gauge
muster_dead_letters{consumer="lagging"} 1
muster_dead_letters{consumer="never-declared"} 0
# HELP muster_jetstream_consumer_ack_pending_messages Messages handed to the consumer and not yet acknowledged.
# TYPE muster_jetstream_consumer_ack_pending_messages gauge
muster_jetstream_consumer_ack_pending_messages{consumer="lagging",stream="SEND"} 0
# HELP muster_jetstream_consumer_pending_messages Messages in the stream the consumer has not been handed yet: its lag.
# TYPE muster_jetstream_consumer_pending_messages gauge
muster_jetstream_consumer_pending_messages{consumer="lagging",stream="SEND"} 3
# HELP muster_jetstream_consumer_redelivered_messages Messages handed out more than once and not yet acknowledged.
# TYPE muster_jetstream_consumer_redelivered_messages gauge
muster_jetstream_consumer_redelivered_messages{consumer="lagging",stream="SEND"} 0
# HELP muster_jetstream_consumer_up 1 when JetStream answered for the consumer at this scrape, 0 when it did not (its other series are then absent).
# TYPE muster_jetstream_consumer_up gauge
muster_jetstream_consumer_up{consumer="lagging",stream="SEND"} 1
muster_jetstream_consumer_up{consumer="never-declared",stream="SEND"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
