package app_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
)

// BenchmarkResultsLag publishes delivery status events at 2,000 a second
// (MUSTER_BENCH_RATE overrides) for ten seconds, each a message of one
// campaign becoming delivered, while an organizer polls the campaign's
// results every 20 ms through the API. The lag at a poll is the age of
// the oldest published event the counters do not include yet; the
// benchmark reports the largest and the 99th percentile.
func BenchmarkResultsLag(b *testing.B) {
	rate := 2000
	if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_RATE")); err == nil && v > 0 {
		rate = v
	}
	const seconds = 10
	total := rate * seconds
	h := newHarness(b, false, nil)
	h.dir.add(rally(1)...)
	srv := h.start()
	id := create(b, srv.url, map[string]any{"name": "Lag", "body": "Hi", "audience": map[string]string{"tag": "rally"}})

	var worst, p99 time.Duration
	for b.Loop() {
		var mu sync.Mutex
		published := make([]time.Time, 0, total)
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			perTick := rate / 100
			start := time.Now()
			for sent := 0; sent < total; {
				<-tick.C
				due := min(int(time.Since(start).Seconds()*float64(rate))+perTick, total)
				for ; sent < due; sent++ {
					key := events.IdempotencyKey(id, 0, fmt.Sprintf("c%07d", sent), events.ChannelSMS)
					ev := events.StatusChanged{
						Meta: events.NewMeta(events.TypeStatusChanged, events.VersionStatusChanged, id, time.Now()),
						StatusChange: events.StatusChange{
							MessageID: "m" + strconv.Itoa(sent) + "-" + id[:8], IdempotencyKey: key, CampaignID: id,
							ContactID: fmt.Sprintf("c%07d", sent), Channel: events.ChannelSMS, Status: events.StatusDelivered,
						},
					}
					data, _ := json.Marshal(ev)
					mu.Lock()
					published = append(published, time.Now())
					mu.Unlock()
					if _, err := h.js.PublishAsync(events.StatusSubject(events.StatusDelivered), data, jetstream.WithMsgID(ev.ID)); err != nil {
						b.Error(err)
						return
					}
				}
			}
			<-h.js.PublishAsyncComplete()
		}()
		var lags []time.Duration
		deadline := time.Now().Add(seconds*time.Second + time.Minute)
		for {
			var r resultsOut
			call(b, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
			now := time.Now()
			counted := r.Delivered
			mu.Lock()
			if counted < len(published) {
				lags = append(lags, now.Sub(published[counted]))
			} else {
				lags = append(lags, 0)
			}
			n := len(published)
			mu.Unlock()
			if counted >= total && n == total {
				break
			}
			if now.After(deadline) {
				b.Fatalf("counted %d of %d", counted, total)
			}
			time.Sleep(20 * time.Millisecond)
		}
		<-done
		sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
		worst, p99 = lags[len(lags)-1], lags[len(lags)*99/100]
		b.StopTimer()
		id = create(b, srv.url, map[string]any{"name": "Lag", "body": "Hi", "audience": map[string]string{"tag": "rally"}})
		b.StartTimer()
	}
	b.ReportMetric(float64(worst.Milliseconds()), "max_lag_ms")
	b.ReportMetric(float64(p99.Milliseconds()), "p99_lag_ms")
	fmt.Printf("BENCH results_lag_ms %d ms\n", worst.Milliseconds())
	fmt.Printf("BENCH results_lag_p99_ms %d ms\n", p99.Milliseconds())
}
