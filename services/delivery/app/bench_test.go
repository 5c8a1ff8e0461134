package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

func benchCount(def int) int {
	if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_MESSAGES")); err == nil && v > 0 {
		return v
	}
	return def
}

// fill publishes n send requests to distinct members before delivery
// starts, so the benchmark times the pipeline, not the publisher.
func (h *harness) fill(b *testing.B, n int) {
	b.Helper()
	futures := make([]jetstream.PubAckFuture, 0, n)
	for i := range n {
		key := fmt.Sprintf("c.bench.s0.%d.sms", i)
		req := events.SendRequested{
			Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: 1, OccurredAt: time.Now()},
			IdempotencyKey: key, CampaignID: "00000000-0000-4000-8000-000000000001", ContactID: strconv.Itoa(i),
			Channel: events.ChannelSMS, To: fmt.Sprintf("+1212%07d", 2_000_000+i), Body: "Hi, the contract vote is Thursday. Reply STOP to opt out.",
		}
		data, _ := json.Marshal(req)
		f, err := h.js.PublishAsync(events.SendSubject(events.ChannelSMS), data, jetstream.WithMsgID(key))
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
}

// BenchmarkSMSSend measures delivery alone, queue to provider call: the
// SEND stream is filled with distinct members first, then delivery starts
// and the clock runs until the simulator has every text. Every invariant
// stays on (record, suppression check, quiet hours, caps, rate-limit
// decision against Redis); the simulator answers at once and sends no
// callbacks, and no rate is configured.
func BenchmarkSMSSend(b *testing.B) {
	n := benchCount(20_000)
	h := newHarness(b, setup{
		simConfig: func(c *sim.Config) { c.AutoCallbacks = false },
		config: func(c *app.Config) {
			c.Workers = 64
			c.DBMaxConns = 32
			c.CapPerDay, c.CapPerWeek = 3, 10
		},
	})
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{}); err != nil {
		b.Fatal(err)
	}
	h.fill(b, n)
	b.ResetTimer()
	start := time.Now()
	h.start(nil)
	deadline := start.Add(10 * time.Minute)
	for h.sim.Len() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d sent", h.sim.Len(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rate := float64(n) / time.Since(start).Seconds()
	b.StopTimer()
	if d := h.sim.Duplicates(); len(d) != 0 {
		b.Fatalf("duplicates: %d", len(d))
	}
	b.ReportMetric(rate, "sms/s")
	fmt.Printf("BENCH sms_send_per_s %.0f msg/s\n", rate)
}

// BenchmarkStopWebhook measures the inbound STOP webhook's latency at 200
// requests per second: each request is a distinct member's signed STOP,
// answered after the suppression is committed.
func BenchmarkStopWebhook(b *testing.B) {
	const rps, total = 200, 2000
	h := newHarness(b, setup{})
	h.start(nil)
	latencies := make([]time.Duration, total)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rps)
	defer tick.Stop()
	b.ResetTimer()
	for i := range total {
		<-tick.C
		wg.Go(func() {
			start := time.Now()
			res, err := h.sim.SendReply(context.Background(), sim.Reply{From: fmt.Sprintf("+1212%07d", 3_000_000+i), To: "+15550001111", Body: "STOP"})
			latencies[i] = time.Since(start)
			if err != nil || res.StatusCode != 200 {
				b.Errorf("STOP %d = %+v, %v", i, res, err)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p99 := latencies[total*99/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	fmt.Printf("BENCH stop_webhook_p99_ms %.1f ms\n", float64(p99.Microseconds())/1000)
	fmt.Printf("BENCH stop_webhook_p50_ms %.1f ms\n", float64(latencies[total/2].Microseconds())/1000)
}
