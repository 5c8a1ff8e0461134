package app_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
)

// BenchmarkPollAnswers is the path a member's answer takes into
// campaigns: 5,000 members of a launched three-choice poll reply at once
// ("2", "heavy", "Unsafe!", "pesado", "1." in turn), published to the
// MESSAGES stream as delivery publishes them; campaigns' inbound consumer
// finds each member's campaign, reads the reply, records the answer and
// its history (and the follow-up for Unsafe, a send request of its own).
// The rate is answers counted per second, from the first publish to the
// results showing every answer.
func BenchmarkPollAnswers(b *testing.B) {
	const n = 5000
	h := newHarness(b, false, nil)
	h.dir.add(rally(n)...)
	srv := h.start()
	out := h.outbox()
	bodies := []string{"2", "heavy", "Unsafe!", "pesado", "1."}
	var rate float64
	for b.Loop() {
		b.StopTimer()
		id := create(b, srv.url, caseloadPoll("rally"))
		if code := call(b, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
			b.Fatalf("launch = %d", code)
		}
		invited(b, srv.url, id, out, n)
		members := rally(n)
		b.StartTimer()
		start := time.Now()
		for i, m := range members {
			ev := events.InboundReceived{
				Meta:      events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now()),
				MessageID: events.NewID(), Channel: events.ChannelSMS, From: m.Phone, To: "+15550001111",
				Body: bodies[i%len(bodies)], CampaignID: id, ContactID: m.ContactID,
			}
			data, _ := json.Marshal(ev)
			if _, err := h.js.PublishAsync(events.SubjectInbound, data, jetstream.WithMsgID(ev.ID)); err != nil {
				b.Fatal(err)
			}
		}
		<-h.js.PublishAsyncComplete()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			var p pollOut
			call(b, "GET", srv.url+"/campaigns/"+id+"/poll", nil, &p)
			if p.Poll.Answered >= n {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("counted %d of %d answers", p.Poll.Answered, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		rate = n / time.Since(start).Seconds()
	}
	b.ReportMetric(rate, "answers/s")
	fmt.Printf("BENCH poll_answers_per_s %.0f answers/s\n", rate)
}
