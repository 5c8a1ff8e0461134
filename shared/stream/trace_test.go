package stream_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/tracing"
)

// TestTraceCrossesJetStream: a message published from a traced context
// is consumed in the same trace, its consumer span a child of the publish
// span, through the headers JetStream stores.
func TestTraceCrossesJetStream(t *testing.T) {
	js := setup(t)
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewSDK("test", 1, sdktrace.WithSyncer(exp))
	ctx, root := tp.Tracer("test").Start(context.Background(), "root")
	if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "traced-1", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	root.End()
	if tp := lastHeader(t, js, "traceparent"); tp == "" {
		t.Fatal("the stored message has no traceparent header")
	}
	got := make(chan trace.SpanContext, 1)
	r, err := stream.Run(context.Background(), js, stream.Consumer{Stream: events.StreamSend, Durable: "traced", TracerProvider: tp},
		func(ctx context.Context, _ stream.Msg) error {
			got <- trace.SpanContextFromContext(ctx)
			return nil
		}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	handled := <-got
	if handled.TraceID() != root.SpanContext().TraceID() {
		t.Fatalf("handler ran in trace %s, want the publisher's %s", handled.TraceID(), root.SpanContext().TraceID())
	}
	testkit.Eventually(t, "the consumer span", func() bool { return len(byName(exp.GetSpans(), "consume traced")) == 1 })
	spans := exp.GetSpans()
	pub := byName(spans, "publish "+events.SendSubject(events.ChannelSMS))
	con := byName(spans, "consume traced")
	if len(pub) != 1 {
		t.Fatalf("%d publish spans, want 1", len(pub))
	}
	if pub[0].Parent.SpanID() != root.SpanContext().SpanID() {
		t.Errorf("publish span's parent is %s, want the root %s", pub[0].Parent.SpanID(), root.SpanContext().SpanID())
	}
	if con[0].Parent.SpanID() != pub[0].SpanContext.SpanID() || !con[0].Parent.IsRemote() {
		t.Errorf("consumer span's parent is %s (remote %v), want the publish span %s", con[0].Parent.SpanID(), con[0].Parent.IsRemote(), pub[0].SpanContext.SpanID())
	}
	if con[0].SpanContext.SpanID() != handled.SpanID() {
		t.Errorf("the handler's context is not the consumer span")
	}
}

// TestUntracedPublishSendsNoTraceHeader: without a span in the context
// nothing is added to the message.
func TestUntracedPublishSendsNoTraceHeader(t *testing.T) {
	js := setup(t)
	if err := stream.Publish(context.Background(), js, events.SendSubject(events.ChannelSMS), "plain-1", map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	if v := lastHeader(t, js, "traceparent"); v != "" {
		t.Errorf("untraced publish carries traceparent %q", v)
	}
}

// lastHeader is a header of the last send request stored.
func lastHeader(t *testing.T, js jetstream.JetStream, key string) string {
	t.Helper()
	s, err := js.Stream(context.Background(), events.StreamSend)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), events.SendSubject(events.ChannelSMS))
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get(key)
}

func byName(spans tracetest.SpanStubs, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}
