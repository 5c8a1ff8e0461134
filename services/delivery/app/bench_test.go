package app_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/cli"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

func benchReplicas() int {
	if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_REPLICAS")); err == nil && v > 0 {
		return v
	}
	return 3
}

func benchCount(def int) int {
	if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_MESSAGES")); err == nil && v > 0 {
		return v
	}
	return def
}

// asTheBinary runs the collector for the rest of the benchmark at the
// target delivery's binary takes (app.GCPercent, or GOGC when set), so
// that delivery in the test's process costs what it does in its own.
// GOGC=100 measures Go's default.
func asTheBinary(b *testing.B) {
	b.Helper()
	inForce := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(inForce)
	before := int(inForce[0].Value.Uint64())
	b.Cleanup(func() { debug.SetGCPercent(before) })
	b.Logf("garbage collector target %s", cli.GCPercent(app.GCPercent))
}

// fill publishes n send requests to distinct members before delivery
// starts, so a benchmark times the pipeline, not the publisher. They are
// packed as campaigns packs them, a hundred to a message.
func (h *harness) fill(b *testing.B, n int, ch events.Channel, build func(i int) events.SendRequested) {
	b.Helper()
	futures := make([]jetstream.PubAckFuture, 0, n/stream.MaxBatchParts+1)
	w := stream.NewBatchWriter()
	flush := func() {
		f, err := h.publishAsync(w.Msg(events.SendSubject(ch)))
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, f)
	}
	for i := range n {
		req := build(i)
		key := fmt.Sprintf("c.bench.s0.%d.%s", i, ch)
		req.Meta = events.Meta{ID: key, Type: events.TypeSendRequested, Version: events.VersionSendRequested, OccurredAt: time.Now()}
		req.IdempotencyKey, req.ContactID, req.Channel = key, strconv.Itoa(i), ch
		data, _ := events.Encode(req)
		if !w.Fits(len(data)) {
			flush()
		}
		w.Add(data, key)
	}
	if w.Len() > 0 {
		flush()
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			b.Fatal(err)
		}
	}
}

// publishAsync publishes without waiting for the acknowledgement; when
// too many are outstanding (the broker is slow on a busy machine) it waits
// for them and tries again rather than fail the fill.
func (h *harness) publishAsync(msg *nats.Msg) (jetstream.PubAckFuture, error) {
	for {
		f, err := h.js.PublishMsgAsync(msg)
		if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			return f, err
		}
		select {
		case <-h.js.PublishAsyncComplete():
		case <-time.After(time.Second):
		}
	}
}

// texts are an SMS alert to distinct members.
func texts(i int) events.SendRequested {
	return events.SendRequested{CampaignID: "00000000-0000-4000-8000-000000000001",
		To: fmt.Sprintf("+1212%07d", 2_000_000+i), Body: "Hi, the contract vote is Thursday. Reply STOP to opt out."}
}

// smallAlert is a short alert by email, personalized in subject and body.
func smallAlert() events.Content {
	return events.Content{
		Subject: "Contract vote Thursday, " + events.MergeTag(0, false),
		Text:    "Hi " + events.MergeTag(0, false) + ", vote at the union hall, 5pm.",
		HTML:    "<p>Hi " + events.MergeTag(0, true) + ", vote at the union hall, 5pm.</p>",
		Merge:   []string{"first_name"},
	}
}

// largeAlert is an alert of real size: 12 KB of styled HTML and a 3 KB
// text part, personalized in subject and body.
func largeAlert() events.Content {
	return events.Content{
		Subject: "Contract vote Thursday, " + events.MergeTag(0, false),
		Text:    "Hi " + events.MergeTag(0, false) + ",\n\n" + strings.Repeat("Our contract expires Friday. Come to the union hall Thursday at 5pm and vote. ", 40),
		HTML: "<div style=\"font-family:Arial,sans-serif;font-size:16px;color:#222\"><p>Hi " + events.MergeTag(0, true) + ",</p>" +
			strings.Repeat("<p>Our contract expires Friday. Management wants to cut night-shift differentials and raise caseloads again. Come to the union hall Thursday at 5pm and vote.</p>", 75) + "</div>",
		Merge: []string{"first_name"},
	}
}

// personalized builds member i's request for content c: naming the stored
// content with the member's first name, or, with MUSTER_BENCH_INLINE=1,
// carrying the email rendered for the member as campaigns did before
// content was stored once per step (the baseline).
func personalized(c events.Content, ref string) func(i int) events.SendRequested {
	inline := os.Getenv("MUSTER_BENCH_INLINE") == "1"
	return func(i int) events.SendRequested {
		r := events.SendRequested{CampaignID: "00000000-0000-4000-8000-000000000002", To: fmt.Sprintf("member%d@local1199.org", i)}
		name := testkit.FirstName(i)
		if !inline {
			r.ContentRef, r.MergeValues = ref, []string{name}
			return r
		}
		text := strings.NewReplacer(events.MergeTag(0, false), name)
		r.Subject, r.Body, r.HTML = text.Replace(c.Subject), text.Replace(c.Text), strings.ReplaceAll(c.HTML, events.MergeTag(0, true), html.EscapeString(name))
		return r
	}
}

// BenchmarkSMSSend measures delivery alone, queue to provider call: the
// SEND stream is filled with distinct members first, then delivery starts
// and the clock runs until the simulator has every text. Every invariant
// stays on (record, suppression check, quiet hours, caps, rate-limit
// decision against Redis); the simulator, a process of its own as Twilio
// is remote, answers at once and sends no callbacks, and no rate is
// configured. Concurrency is the default (256 workers, 100 Twilio
// connections). It prints the CPU each text cost in delivery (with its
// embedded NATS), PostgreSQL and the simulator.
func BenchmarkSMSSend(b *testing.B) {
	n := benchCount(20_000)
	asTheBinary(b)
	provider := startSimProcess(b, "SIMULATOR_AUTO_CALLBACKS=false")
	h := newHarness(b, setup{
		config: func(c *app.Config) {
			d := app.DefaultConfig()
			c.AckWait, c.TwilioTimeout = d.AckWait, d.TwilioTimeout
			c.TwilioAPIURL = provider.URL
			c.DBMaxConns = 32
			c.CapPerDay, c.CapPerWeek = 3, 10
		},
	})
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{}); err != nil {
		b.Fatal(err)
	}
	h.fill(b, n, events.ChannelSMS, texts)
	b.ResetTimer()
	stopProfile := testkit.ProfileWindow(b)
	cpuBefore := readCPU(provider.cmd.Process.Pid)
	start := time.Now()
	h.start(nil)
	ctx := context.Background()
	deadline := start.Add(10 * time.Minute)
	for sent := 0; sent < n; {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d sent", sent, n)
		}
		time.Sleep(10 * time.Millisecond)
		var err error
		if sent, err = provider.TextCount(ctx); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	self, pg, sim := readCPU(provider.cmd.Process.Pid).perMessage(cpuBefore, n)
	stopProfile()
	b.StopTimer()
	stats, err := provider.stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(stats.Duplicates) != 0 {
		b.Fatalf("duplicates: %d", len(stats.Duplicates))
	}
	b.ReportMetric(rate, "sms/s")
	fmt.Printf("BENCH sms_send_per_s %.0f msg/s\n", rate)
	fmt.Printf("BENCH sms_cpu_delivery_us %.1f us/msg\n", self)
	fmt.Printf("BENCH sms_cpu_postgres_us %.1f us/msg\n", pg)
	fmt.Printf("BENCH sms_cpu_simulator_us %.1f us/msg\n", sim)
}

// BenchmarkStopWebhook measures the inbound STOP webhook's latency at 200
// requests per second: each request is a distinct member's signed STOP,
// answered after the suppression is committed.
func BenchmarkStopWebhook(b *testing.B) {
	const rps, total = 200, 2000
	asTheBinary(b)
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

// BenchmarkStopWebhookUnderLoad measures the STOP webhook while a large
// SMS alert sends at full speed on the same machine: STOPs at 200/s from
// members of the alert, most of whose texts are still queued. Beside the
// latency it counts texts claimed for sending after their member's STOP
// was answered, which must be none. The alert goes to the simulator as a
// process of its own (Twilio is remote in production), which posts each
// text's status callbacks back as Twilio does; the STOPs come from a
// simulator in this process, which sends nothing else.
func BenchmarkStopWebhookUnderLoad(b *testing.B) {
	const rps, total = 200, 2000
	n := benchCount(100_000) // the alert (#20); MUSTER_BENCH_MESSAGES overrides
	asTheBinary(b)
	provider := startSimProcess(b)
	h := newHarness(b, setup{config: func(c *app.Config) {
		d := app.DefaultConfig()
		c.AckWait, c.TwilioTimeout = d.AckWait, d.TwilioTimeout
		c.TwilioAPIURL = provider.URL
		c.DBMaxConns = 32
		if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_WORKERS")); err == nil && v > 0 {
			c.Workers = v
		}
	}})
	texted := func() int {
		sent, err := provider.TextCount(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		return sent
	}
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{}); err != nil {
		b.Fatal(err)
	}
	h.fill(b, n, events.ChannelSMS, texts)
	member := func(k int) string { return texts(n/4 + k*(n*3/4)/total).To }
	latencies := make([]time.Duration, total)
	answered := make([]time.Time, total)
	b.ResetTimer()
	stopProfile := testkit.ProfileWindow(b)
	h.start(nil)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rps)
	for k := range total {
		<-tick.C
		wg.Go(func() {
			start := time.Now()
			res, err := h.sim.SendReply(context.Background(), sim.Reply{From: member(k), To: "+15550001111", Body: "STOP"})
			latencies[k], answered[k] = time.Since(start), h.clock.Now()
			if err != nil || res.StatusCode != 200 {
				b.Errorf("STOP %d = %+v, %v", k, res, err)
			}
		})
	}
	wg.Wait()
	tick.Stop()
	sentDuring := texted()
	stopProfile()
	b.StopTimer()
	// Every text is settled or held back before the count is taken.
	deadline := time.Now().Add(10 * time.Minute)
	for texted()+h.suppressedCount(b) < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d sent and %d suppressed of %d", texted(), h.suppressedCount(b), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	late := 0
	claimed := h.claimedAt(b)
	for k := range total {
		if at, ok := claimed[member(k)]; ok && at.After(answered[k]) {
			late++
		}
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p99 := latencies[total*99/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	fmt.Printf("BENCH stop_webhook_under_load_p99_ms %.1f ms\n", float64(p99.Microseconds())/1000)
	fmt.Printf("BENCH stop_webhook_under_load_p50_ms %.1f ms\n", float64(latencies[total/2].Microseconds())/1000)
	fmt.Printf("BENCH stop_under_load_texts_sent_during %d msg\n", sentDuring)
	fmt.Printf("BENCH stop_under_load_claimed_after_stop %d msg\n", late)
	if late != 0 {
		b.Fatalf("%d texts were claimed for sending after their member's STOP was answered", late)
	}
}

// suppressedCount counts messages held back as suppressed.
func (h *harness) suppressedCount(b *testing.B) int {
	b.Helper()
	var n int
	if err := h.db(b).QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE status = 'suppressed'`).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// claimedAt is when each number's text was claimed for sending.
func (h *harness) claimedAt(b *testing.B) map[string]time.Time {
	b.Helper()
	rows, err := h.db(b).Query(context.Background(), `SELECT to_addr, claimed_at FROM messages WHERE claimed_at IS NOT NULL`)
	if err != nil {
		b.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		to string
		at time.Time
	}, error) {
		var v struct {
			to string
			at time.Time
		}
		return v, r.Scan(&v.to, &v.at)
	})
	if err != nil {
		b.Fatal(err)
	}
	m := make(map[string]time.Time, len(out))
	for _, v := range out {
		m[v.to] = v.at
	}
	return m
}

// db is a connection pool on delivery's database, closed when the
// benchmark ends.
func (h *harness) db(b *testing.B) *pgxpool.Pool {
	b.Helper()
	if h.pool == nil {
		p, err := pgxpool.New(context.Background(), h.cfg.DatabaseURL)
		if err != nil {
			b.Fatal(err)
		}
		h.pool = p
		b.Cleanup(p.Close)
	}
	return h.pool
}

// BenchmarkEmailSend measures the email pipeline, queue to provider: a
// short alert personalized with each member's (distinct) first name in
// subject and body, 50,000 members: batched record and suppression
// check, one mail/send per 1,000 recipients carrying the body once with
// each member's merge values and unsubscribe link as substitutions,
// batched settle and events. The SendGrid simulator runs as a process of
// its own, as the provider is remote in production; delivery runs with
// its production timeouts, so in-flight requests are kept alive as often
// as they would be there.
func BenchmarkEmailSend(b *testing.B) {
	benchEmail(b, "email", smallAlert())
}

// BenchmarkEmailSendLarge is the same with an alert of real size: 12 KB
// of styled HTML and a 3 KB text part.
func BenchmarkEmailSendLarge(b *testing.B) {
	benchEmail(b, "email_12kb", largeAlert())
}

// benchEmail sends 50,000 emails built by build and prints the rate and
// the CPU each email cost in delivery (with its embedded NATS),
// PostgreSQL and the simulator as BENCH <name>_send_per_s and
// <name>_cpu_<part>_us.
func benchEmail(b *testing.B, name string, c events.Content) {
	n := benchCount(50_000)
	asTheBinary(b)
	provider := startSimProcess(b, "SIMULATOR_SENDGRID_KEY=SG.test", "SIMULATOR_AUTO_CALLBACKS=false", "SIMULATOR_AUTO_EMAIL_EVENTS=false")
	// Batches linger 5ms (the default): measured, longer lingers (20ms,
	// 50ms) made larger batches and a slower pipeline.
	h := newHarness(b, setup{
		config: func(c *app.Config) {
			d := app.DefaultConfig()
			c.AckWait, c.TwilioTimeout = d.AckWait, d.TwilioTimeout
			c.SendGridAPIURL = provider.URL
			if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_EMAIL_WORKERS")); err == nil && v > 0 {
				c.EmailWorkers = v
			}
		},
	})
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{}); err != nil {
		b.Fatal(err)
	}
	ref, data, err := c.Ref()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := h.js.Publish(context.Background(), events.ContentSubject(ref), data); err != nil {
		b.Fatal(err)
	}
	h.fill(b, n, events.ChannelEmail, personalized(c, ref))
	b.ResetTimer()
	stopProfile := testkit.ProfileWindow(b)
	db := dbName(h.cfg.DatabaseURL)
	cpuBefore, pgOwnBefore := readCPU(provider.cmd.Process.Pid), postgresFor(db)
	start := time.Now()
	h.start(nil)
	ctx := context.Background()
	deadline := start.Add(10 * time.Minute)
	for sent := 0; sent < n; {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d sent", sent, n)
		}
		time.Sleep(20 * time.Millisecond)
		var err error
		if sent, err = provider.EmailCount(ctx); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	self, pg, sim := readCPU(provider.cmd.Process.Pid).perMessage(cpuBefore, n)
	pgOwn := float64((postgresFor(db) - pgOwnBefore).Microseconds()) / float64(n)
	stopProfile()
	b.StopTimer()
	b.Logf("PostgreSQL CPU for this benchmark's database alone: %.1f us/msg", pgOwn)
	b.ReportMetric(rate, "email/s")
	fmt.Printf("BENCH %s_send_per_s %.0f msg/s\n", name, rate)
	fmt.Printf("BENCH %s_cpu_delivery_us %.1f us/msg\n", name, self)
	fmt.Printf("BENCH %s_cpu_postgres_us %.1f us/msg\n", name, pg)
	fmt.Printf("BENCH %s_cpu_simulator_us %.1f us/msg\n", name, sim)
}

// BenchmarkRateLimit runs three delivery replicas against one sender
// number limited to 50 segments per second and reports how close they
// came to the limit and whether any one-second window went over it.
func BenchmarkRateLimit(b *testing.B) {
	const rate, n = 50, 600
	h := newHarness(b, setup{
		simConfig: func(c *sim.Config) { c.AutoCallbacks = false },
		config:    func(c *app.Config) { c.SenderRate = rate },
	})
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{}); err != nil {
		b.Fatal(err)
	}
	h.fill(b, n, events.ChannelSMS, texts)
	b.ResetTimer()
	for i := range benchReplicas() {
		cfg := h.cfg
		cfg.HTTPAddr = "127.0.0.1:0"
		if i == 0 {
			cfg.HTTPAddr = h.addr
		}
		h.startWith(cfg)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for h.sim.Len() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d sent", h.sim.Len(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	out := h.sim.Outbox()
	times := make([]time.Time, len(out))
	for i, m := range out {
		times[i] = m.CreatedAt
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	// The most sends in any one-second window, sliding over every send.
	most, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= time.Second {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	// Utilization over the steady part: the first second fills the
	// pipeline, so measure from the first send to the last.
	span := times[len(times)-1].Sub(times[0]).Seconds()
	achieved := float64(len(times)-1) / span
	over := max(0, float64(most-rate)/rate*100)
	if os.Getenv("MUSTER_BENCH_DEBUG") != "" {
		for i := 1; i < len(times); i++ {
			if g := times[i].Sub(times[i-1]); g > 60*time.Millisecond {
				fmt.Printf("gap %d: %s\n", i, g)
			}
		}
	}
	b.ReportMetric(achieved, "sends/s")
	fmt.Printf("BENCH ratelimit_max_over_pct %.1f %%\n", over)
	fmt.Printf("BENCH ratelimit_utilization_pct %.1f %%\n", achieved/rate*100)
	fmt.Printf("BENCH ratelimit_max_window_sends %d sends\n", most)
}
