package stream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/musterhq/muster/shared/testkit"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// packed packs parts with their keys into one batch message's id and data.
func packed(t *testing.T, parts ...string) (id string, data []byte) {
	t.Helper()
	w := stream.NewBatchWriter()
	for _, p := range parts {
		if !w.Fits(len(p)) {
			t.Fatalf("part %q does not fit a batch of %d", p, w.Len())
		}
		w.Add([]byte(p), p)
	}
	m := w.Msg(events.SendSubject(events.ChannelSMS))
	if w.Len() != 0 {
		t.Fatalf("the writer still holds %d parts after Msg", w.Len())
	}
	return m.Header.Get(jetstream.MsgIDHeader), m.Data
}

func TestBatchWriterNamesABatchByEveryPart(t *testing.T) {
	id1, data := packed(t, `{"id":"a"}`, `{"id":"b"}`)
	var got []map[string]string
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("a batch is not a JSON array: %v (%s)", err, data)
	}
	if len(got) != 2 || got[0]["id"] != "a" || got[1]["id"] != "b" {
		t.Errorf("batch = %s", data)
	}
	id2, _ := packed(t, `{"id":"a"}`, `{"id":"b"}`)
	if id1 != id2 {
		t.Errorf("the same parts got ids %q and %q: a page published again would be stored twice", id1, id2)
	}
	for _, other := range [][]string{{`{"id":"a"}`}, {`{"id":"a"}`, `{"id":"c"}`}, {`{"id":"b"}`, `{"id":"a"}`}} {
		if id, _ := packed(t, other...); id == id1 {
			t.Errorf("batch %q has the id of a batch with other parts; it would be dropped as a duplicate", other)
		}
	}
}

func TestBatchWriterBoundsABatch(t *testing.T) {
	w := stream.NewBatchWriter()
	for i := range stream.MaxBatchParts {
		if !w.Fits(10) {
			t.Fatalf("part %d did not fit", i)
		}
		w.Add([]byte(`"0123456"`), fmt.Sprint(i))
	}
	if w.Fits(10) {
		t.Errorf("part %d fits; a batch holds at most %d", stream.MaxBatchParts+1, stream.MaxBatchParts)
	}
	w.Msg(events.SendSubject(events.ChannelSMS))
	big := make([]byte, 200<<10)
	if !w.Fits(len(big)) {
		t.Fatal("a first part must always fit")
	}
	w.Add(big, "big")
	if w.Fits(len(big)) {
		t.Error("two parts of 200 KB fit one batch")
	}
}

// TestRunnerHandlesEachPartAndAnswersTheBatchOnce: every part reaches the
// handler as a message of its own; a part that asks for a retry brings
// the whole batch back (the others see their part again); a part that
// cannot succeed is dead-lettered alone, once, and the batch is then
// acknowledged.
func TestRunnerHandlesEachPartAndAnswersTheBatchOnce(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	h, count := scripted()
	r, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamSend, Durable: "test", Workers: 4, MaxAttempts: 3}, h, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)

	w := stream.NewBatchWriter()
	for _, p := range []string{`{"id":"ok-1"}`, `{"id":"retry-once"}`, `{"id":"always-fails"}`, `"not an object"`, `{"id":"ok-2"}`} {
		w.Add([]byte(p), p)
	}
	if _, err := js.PublishMsg(ctx, w.Msg(events.SendSubject(events.ChannelSMS))); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, events.StreamSend)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the batch to be answered", func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	// Three deliveries: the first retries for retry-once and always-fails,
	// the second for always-fails, the third dead-letters it.
	for _, id := range []string{"ok-1", "retry-once", "always-fails", "ok-2"} {
		if got := count(id); got != 3 {
			t.Errorf("part %s handled %d times, want 3 (once per delivery of its batch)", id, got)
		}
	}
	got := deadLetters(t, js)
	if len(got) != 2 || !contains(got, `{"id":"always-fails"}`) || !contains(got, `"not an object"`) {
		t.Errorf("dead letters = %q, want each failing part once, alone", got)
	}
}

func TestRunnerDeadLettersABatchItCannotRead(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	handled := recording(t, js)
	w := stream.NewBatchWriter()
	w.Add([]byte(`{"id":"a"}`), "a")
	future := w.Msg(events.SendSubject(events.ChannelSMS))
	future.Header.Set(stream.BatchHeader, "2")
	if _, err := js.PublishMsg(ctx, future); err != nil {
		t.Fatal(err)
	}
	dl, err := js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the unreadable batch to be dead-lettered", func() bool {
		info, err := dl.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
	raw, err := dl.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var d events.DeadLettered
	if err := json.Unmarshal(raw.Data, &d); err != nil {
		t.Fatal(err)
	}
	if string(d.Data) != string(future.Data) {
		t.Errorf("dead letter holds %s, want the whole batch %s", d.Data, future.Data)
	}
	select {
	case p := <-handled:
		t.Errorf("a part of an unreadable batch reached the handler: %s", p)
	default:
	}
}

// TestBatchConsumerHoldsWorkForItsWorkers: a consumer of batches asks the
// server for messages by the parts they carry, so one replica does not
// take a hundred times the work it can do while another waits.
func TestBatchConsumerHoldsWorkForItsWorkers(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		workers, parts, want int
	}{{256, 0, 2048}, {256, stream.MaxBatchParts, 20}, {2000, stream.MaxBatchParts, 160}, {4, stream.MaxBatchParts, 4}} {
		durable := fmt.Sprintf("held-%d-%d", c.workers, c.parts)
		// A work queue takes one consumer per subject.
		r, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamSend, Durable: durable, Subjects: []string{events.SubjectSendPrefix + durable},
			Workers: c.workers, Parts: c.parts},
			func(context.Context, stream.Msg) error { return nil }, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		cons, err := js.Consumer(ctx, events.StreamSend, durable)
		if err != nil {
			t.Fatal(err)
		}
		if got := cons.CachedInfo().Config.MaxAckPending; got != c.want {
			t.Errorf("%d workers, %d parts a message: the server hands out %d messages, want %d", c.workers, c.parts, got, c.want)
		}
		r.Stop(ctx)
	}
}

// TestARetriedBatchIsReadAsABatch: a batch kept whole as a dead letter
// (its data without its headers) goes back marked as a batch, and its
// requests reach the handler one by one; a single event stays single.
func TestARetriedBatchIsReadAsABatch(t *testing.T) {
	js := setup(t)
	ctx := context.Background()
	handled := recording(t, js)
	subject := events.RetrySubject(events.ChannelSMS)
	for _, data := range []string{` [{"id":"a"},{"id":"b"}]`, `{"id":"c"}`} {
		if _, err := js.PublishMsg(ctx, stream.RetryMsg(subject, []byte(data))); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for range 3 {
		select {
		case d := <-handled:
			got[d] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("handled only %v", got)
		}
	}
	for _, want := range []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`} {
		if !got[want] {
			t.Errorf("handled %v, want %s on its own", got, want)
		}
	}
}

// recording runs a consumer of SEND until the test ends, handing the data
// of each message (each part of a batch) it handles to the channel.
func recording(t *testing.T, js jetstream.JetStream) <-chan string {
	t.Helper()
	handled := make(chan string, 10)
	r, err := stream.Run(context.Background(), js, stream.Consumer{Stream: events.StreamSend, Durable: "test", Workers: 2},
		func(_ context.Context, m stream.Msg) error {
			handled <- string(m.Data)
			return nil
		}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	return handled
}
