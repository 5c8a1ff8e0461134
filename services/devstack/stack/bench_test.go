package stack_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/cluster"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
	"github.com/musterhq/muster/shared/tracing"
)

// BenchmarkE2ESMS measures the skeleton end to end: from the launch call
// to the last of N texts in the simulator's outbox (N = 100,000, as for
// e2e_email_per_s, unless MUSTER_BENCH_MEMBERS says otherwise), with
// status callbacks flowing back as they would from Twilio, and on until
// campaigns' results hold every text's final status (settled). Beside
// it, on the same NATS server, it measures raw JetStream publish plus
// acknowledged consume, the broker's own ceiling that Muster's rate
// should be read against, and the provider's traffic alone (as
// BenchmarkProviderFloorSMS): the ratios to it hold still where the
// machine's speed does not.
func BenchmarkE2ESMS(b *testing.B) {
	st, members, campaignsDB := smsBenchStack(b, nil)
	b.ResetTimer()
	var (
		run     smsRun
		settled float64
		raw     float64
		alone   floor
	)
	for range b.N {
		// The broker's ceiling first, while the services are idle.
		admin, err := st.NATSOptions(natsauth.Admin)
		if err != nil {
			b.Fatal(err)
		}
		raw = testkit.RawJetStream(b, st.NATSURL, 100_000, 1, admin...)
		alone = providerFloor(b, members)
		run = launchAndWait(b, st, members)
		settled = run.settled(b, campaignsDB, members)
	}
	b.StopTimer()
	b.ReportMetric(run.sent, "sms/s")
	b.ReportMetric(raw, "raw_msg/s")
	fmt.Printf("BENCH e2e_sms_per_s %.0f msg/s\n", run.sent)
	fmt.Printf("BENCH e2e_sms_settled_per_s %.0f msg/s\n", settled)
	fmt.Printf("BENCH e2e_sms_cpu_platform_us %.1f us/msg\n", run.cpu.platform)
	fmt.Printf("BENCH e2e_sms_cpu_postgres_us %.1f us/msg\n", run.cpu.postgres)
	fmt.Printf("BENCH jetstream_raw_per_s %.0f msg/s\n", raw)
	b.Logf("the provider's traffic alone: %.0f texts/s sent, %.0f settled, %.1f us of CPU a text", alone.sent, alone.settled, alone.cpu)
	fmt.Printf("BENCH e2e_sms_ratio_to_floor %.3f ratio\n", run.sent/alone.sent)
	fmt.Printf("BENCH e2e_sms_settled_ratio_to_floor %.3f ratio\n", settled/alone.settled)
}

// BenchmarkE2ESMSTraced is BenchmarkE2ESMS with every service tracing and
// every trace sampled: spans go through the batch span processor, as in
// production, to an exporter that drops them, so the figure is tracing's
// cost inside Muster (spans, header propagation, the remembered send
// span and its lookup at each callback) without a collector's.
func BenchmarkE2ESMSTraced(b *testing.B) {
	tp := tracing.NewSDK("muster", 1, sdktrace.WithBatcher(discard{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) }) // after the stack stops
	st, members, _ := smsBenchStack(b, tp)
	b.ResetTimer()
	var e2e float64
	for range b.N {
		e2e = launchAndWait(b, st, members).sent
	}
	b.StopTimer()
	b.ReportMetric(e2e, "sms/s")
	fmt.Printf("BENCH e2e_sms_traced_per_s %.0f msg/s\n", e2e)
}

// discard is a span exporter that drops every span.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// startBenchStack starts the platform for an end-to-end benchmark with
// its members seeded by seed (MUSTER_BENCH_MEMBERS of them, or members);
// change, when given, adjusts the options first. It stops with b.
func startBenchStack(b *testing.B, members int, seed func(*testing.B, string, int), change func(*stack.Options)) (*stack.Stack, int) {
	b.Helper()
	members = benchMembers(members)
	contactsDSN := testkit.Database(b, contactsdb.FS)
	opts := stack.Options{
		NATSPort: -1, NATSDir: b.TempDir(),
		ContactsDB: contactsDSN, CampaignsDB: testkit.Database(b, campaignsdb.FS), DeliveryDB: testkit.Database(b, deliverydb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		Log: zap.NewNop(), RedisPrefix: redisPrefix(b), DeliveryOptions: delivery.Options{Clock: middayClock(b)},
		Callers: svcauthtest.Trusted(),
	}
	if change != nil {
		change(&opts)
	}
	st, err := stack.Start(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := st.Stop(); err != nil {
			b.Error(err)
		}
	})
	seed(b, contactsDSN, members)
	return st, members
}

// benchMembers is MUSTER_BENCH_MEMBERS when it is set, or def.
func benchMembers(def int) int {
	if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_MEMBERS")); err == nil && v > 0 {
		return v
	}
	return def
}

// smsBenchStack is the platform for the SMS benchmarks: 100,000 members
// by default, the simulator reporting each text sent then delivered from
// 256 callbacks at once, as a provider posts them as texts move (its
// default of 8 would make it the limit on how fast statuses come back),
// traced with tp when not nil. It returns the campaigns database too,
// where the benchmark reads when every text has settled.
func smsBenchStack(b *testing.B, tp trace.TracerProvider) (*stack.Stack, int, string) {
	b.Helper()
	var campaignsDB string
	st, members := startBenchStack(b, 100_000, seedContacts, func(o *stack.Options) {
		o.AutoCallbacks, o.CallbackWorkers, o.TracerProvider = true, 256, tp
		campaignsDB = o.CampaignsDB
	})
	return st, members, campaignsDB
}

// seedContacts bulk-loads members tagged "bench" straight into the
// contacts database: the benchmark measures sending, not importing.
func seedContacts(b *testing.B, dsn string, n int) {
	seedMembers(b, dsn, n, "phone", func(i int) (string, string) {
		return "Member" + strconv.Itoa(i), fmt.Sprintf("+1212%07d", 2_000_000+i)
	})
}

// seedMembers bulk-loads n members tagged "bench" straight into the
// contacts database, member i with the first name and address (in the
// column address) member gives: the benchmarks measure sending, not
// importing.
func seedMembers(b *testing.B, dsn string, n int, address string, member func(i int) (firstName, addr string)) {
	b.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now()
	rows := make([][]any, n)
	for i := range rows {
		name, addr := member(i)
		rows[i] = []any{name, addr, []string{"bench"}, now, now}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"first_name", address, "tags", "created_at", "updated_at"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "ANALYZE contacts"); err != nil {
		b.Fatal(err)
	}
}

// createAndLaunch creates the campaign draft describes and launches it,
// returning its id and when the launch call was made.
func createAndLaunch(b *testing.B, st *stack.Stack, draft map[string]any) (string, time.Time) {
	b.Helper()
	var c struct {
		ID string `json:"id"`
	}
	if code := call(b, "campaigns", "POST", st.CampaignsURL+"/campaigns", draft, &c); code != 201 {
		b.Fatalf("create = %d", code)
	}
	start := time.Now()
	if code := call(b, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+c.ID+"/launch", nil, nil); code != 202 {
		b.Fatalf("launch = %d", code)
	}
	return c.ID, start
}

// textCPU is what each text cost in CPU, in microseconds: the test
// process (every service, the broker and the simulator) and PostgreSQL.
type textCPU struct{ platform, postgres float64 }

// smsRun is one benchmark text to every member: its campaign, when it
// was launched, the CPU used before it, and its rate and CPU a text from
// the launch call to the simulator taking the last text.
type smsRun struct {
	id                   string
	start                time.Time
	selfBefore, pgBefore time.Duration
	sent                 float64
	cpu                  textCPU
}

// launchAndWait launches a text to the n members tagged "bench" and waits
// until the simulator has all n, refusing a member texted twice. It
// returns the rate from the launch call and each text's CPU over the
// same window: on two cores, two seconds over the sum is the ceiling
// whatever else the machine does.
func launchAndWait(b *testing.B, st *stack.Stack, n int) smsRun {
	b.Helper()
	st.Sim.Reset()
	var r smsRun
	r.selfBefore, _ = testkit.ProcessCPU("self")
	r.pgBefore = testkit.PostgresCPU(nil)
	stopProfile := testkit.ProfileWindow(b)
	defer stopProfile()
	r.id, r.start = createAndLaunch(b, st, map[string]any{
		"name": "bench", "body": "Hi {{first_name}}, the vote is Thursday. Reply STOP to opt out.", "audience": map[string]string{"tag": "bench"},
	})
	deadline := r.start.Add(10 * time.Minute)
	for {
		// The count, not the outbox: copying the outbox every poll
		// grew with the audience (tens of MB, 50 times a second, at
		// 100,000 texts) and took the CPU the platform was measured on.
		if got := st.Sim.Count(); got >= n {
			r.sent = float64(n) / time.Since(r.start).Seconds()
			r.cpu = r.cpuSince(n)
			out := st.Sim.Outbox()
			seen := make(map[string]bool, len(out))
			for _, m := range out {
				if seen[m.To] {
					b.Fatalf("%s got two texts", m.To)
				}
				seen[m.To] = true
			}
			return r
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d texts arrived", st.Sim.Count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuSince is each of n texts' CPU since the launch.
func (r smsRun) cpuSince(n int) textCPU {
	self, _ := testkit.ProcessCPU("self")
	perText := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return textCPU{platform: perText(self - r.selfBefore), postgres: perText(testkit.PostgresCPU(nil) - r.pgBefore)}
}

// settled waits until campaigns' results (in campaignsDB) hold every
// text's final status and returns texts per second from the launch call
// to then: the status callbacks that carry a text there cost much of
// their CPU after the last send (docs/performance.md, "Session 16").
func (r smsRun) settled(b *testing.B, campaignsDB string, n int) float64 {
	b.Helper()
	last := time.Now()
	cluster.WaitSettled(b, campaignsDB, r.id, n, 10*time.Minute)
	rate := float64(n) / time.Since(r.start).Seconds()
	cpu := r.cpuSince(n)
	b.Logf("settled %.1fs after the last send; CPU per text, launch to settled: %.0f µs in the test process, %.0f in PostgreSQL",
		time.Since(last).Seconds(), cpu.platform, cpu.postgres)
	return rate
}
