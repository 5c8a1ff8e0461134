package stack_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/testkit"
)

// BenchmarkProviderFloorSMS measures what a text costs before Muster does
// anything with it: the provider's traffic alone, as BenchmarkE2ESMS has
// it. 256 senders (delivery's default) send N texts (100,000 unless
// MUSTER_BENCH_MEMBERS says otherwise) through delivery's Twilio client
// (twilio-go, 100 connections) to the simulator, which posts each text's
// sent and delivered callbacks from 256 at once to delivery's Twilio
// webhook handlers, signatures checked. The receiver behind the handlers
// only counts: no NATS, no PostgreSQL, no rules, no campaigns. Its CPU per
// text is the floor under e2e_sms_cpu_platform_us on the same machine, and
// its rate the ceiling over e2e_sms_settled_per_s.
func BenchmarkProviderFloorSMS(b *testing.B) {
	n := benchMembers(100_000)
	b.ResetTimer()
	stopProfile := testkit.ProfileWindow(b)
	var f floor
	for range b.N {
		f = providerFloor(b, n)
	}
	stopProfile()
	b.StopTimer()
	b.ReportMetric(f.sent, "sms/s")
	fmt.Printf("BENCH sms_provider_floor_per_s %.0f msg/s\n", f.sent)
	fmt.Printf("BENCH sms_provider_floor_settled_per_s %.0f msg/s\n", f.settled)
	fmt.Printf("BENCH sms_provider_floor_cpu_us %.1f us/msg\n", f.cpu)
}

// floor is one run of the provider's traffic alone: texts per second to
// the last text at the simulator (sent) and to the last status callback
// answered (settled), and the CPU each text cost, launch to settled.
type floor struct {
	sent, settled, cpu float64
}

// providerFloor sends n texts as BenchmarkProviderFloorSMS describes, on
// servers and connections of its own that are closed when it returns.
func providerFloor(b *testing.B, n int) floor {
	b.Helper()
	recv := &countingReceiver{}
	hooks := listen(b)
	hookURL := "http://" + hooks.Addr().String()
	router := chi.NewRouter()
	twilio.NewWebhooks(sim.DefaultAuthToken, hookURL, recv, zap.NewNop()).Routes(router)
	defer serve(hooks, router)()

	simLn := listen(b)
	simulator := sim.New(sim.Config{AutoCallbacks: true, CallbackWorkers: 256}, zap.NewNop())
	defer simulator.Close()
	defer serve(simLn, simulator.Handler())()

	client, err := twilio.NewClient(twilio.Config{
		AccountSID: sim.DefaultAccountSID, AuthToken: sim.DefaultAuthToken,
		APIURL: "http://" + simLn.Addr().String(), PublicURL: hookURL,
	})
	if err != nil {
		b.Fatal(err)
	}

	before, _ := testkit.ProcessCPU("self")
	start := time.Now()
	sendAll(b, client, n, 256)
	f := floor{sent: float64(n) / time.Since(start).Seconds()}
	deadline := start.Add(10 * time.Minute)
	for recv.reports.Load() < int64(2*n) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d status callbacks arrived", recv.reports.Load(), 2*n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.settled = float64(n) / time.Since(start).Seconds()
	after, _ := testkit.ProcessCPU("self")
	f.cpu = float64((after - before).Microseconds()) / float64(n)
	if got := simulator.Count(); got != n {
		b.Fatalf("the simulator took %d texts, want %d", got, n)
	}
	if got := recv.delivered.Load(); got != int64(n) {
		b.Fatalf("%d texts reported delivered, want %d", got, n)
	}
	return f
}

// sendAll sends n texts to distinct members, each named in the text as
// the end-to-end benchmark's alert names them, from senders goroutines,
// and fails the benchmark on the first error.
func sendAll(b *testing.B, client *twilio.Client, n, senders int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				_, err := client.Send(context.Background(), provider.SMS{
					MessageID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
					To:        fmt.Sprintf("+1212%07d", 2_000_000+i), From: "+12125550100",
					Body: "Hi " + testkit.FirstName(int(i)) + ", the vote is Thursday. Reply STOP to opt out.",
				})
				if err != nil {
					errs <- fmt.Errorf("text %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// countingReceiver stands where delivery's receiver would: it counts
// verified status reports and does nothing else.
type countingReceiver struct {
	reports, delivered atomic.Int64
}

func (r *countingReceiver) Status(_ context.Context, rep provider.StatusReport) error {
	r.reports.Add(1)
	if rep.Status.Terminal() {
		r.delivered.Add(1)
	}
	return nil
}

func (r *countingReceiver) Inbound(context.Context, provider.Inbound) (string, error) {
	return "", errors.New("the floor benchmark takes no inbound texts")
}

// listen opens a loopback port; serving on it closes it.
func listen(b *testing.B) net.Listener {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}

// serve serves h on ln, with the timeouts the simulator's own server
// keeps, until the returned function closes it.
func serve(ln net.Listener, h http.Handler) (closeServer func()) {
	srv := sim.NewHTTPServer(h)
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }
}
