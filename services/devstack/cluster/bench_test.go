package cluster_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/devstack/cluster"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/testkit"
)

// benchMembers reads a member count from the environment.
func benchMembers(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// sendAll seeds n members on a fresh platform, launches the campaign and
// returns texts per second from the launch call to the provider taking the
// last of them, and the platform, still running.
func sendAll(b *testing.B, bins cluster.Binaries, o cluster.Options, n int) (float64, *cluster.Platform) {
	b.Helper()
	p := cluster.Start(b, bins, o)
	return sendOn(b, p, n).sent, p
}

// sendRun is one benchmark campaign on a platform: when it was launched,
// its id and size, the CPU every process had used by then, and its rate
// from the launch call to the provider taking the last text.
type sendRun struct {
	p     *cluster.Platform
	id    string
	n     int
	start time.Time
	cpu   cluster.CPUUse
	sent  float64
}

// sendOn is sendAll on a platform already running.
func sendOn(b *testing.B, p *cluster.Platform, n int) sendRun {
	b.Helper()
	phones := p.Seed(n, "bench")
	r := sendRun{p: p, n: n, cpu: p.CPUSnapshot()}
	// The test process's profile: the NATS nodes and the test's own
	// polling (the services are processes of their own).
	stopProfile := testkit.ProfileWindow(b)
	r.start = time.Now()
	r.id = p.Launch("bench")
	p.WaitSent(n, time.Hour)
	r.sent = float64(n) / time.Since(r.start).Seconds()
	stopProfile()
	b.Logf("CPU per text: %s", p.CPUSnapshot().Since(r.cpu, n))
	if got := p.SimCount(); got != len(phones) {
		b.Fatalf("the provider took %d texts for %d members", got, len(phones))
	}
	return r
}

// settled waits until campaigns' results hold every text's final status
// and returns texts per second from the launch call to then: sending is
// done when the organizer's results say so, not when the last text left.
// The status callbacks that carry a text to its final status cost most
// of their CPU after the last send (see docs/performance.md, "Session 16").
func (r sendRun) settled(b *testing.B) float64 {
	b.Helper()
	last := time.Now()
	r.p.WaitSettled(r.id, r.n, time.Hour)
	rate := float64(r.n) / time.Since(r.start).Seconds()
	b.Logf("settled %.1fs after the last send; CPU per text, launch to settled: %s",
		time.Since(last).Seconds(), r.p.CPUSnapshot().Since(r.cpu, r.n))
	return rate
}

// callbackWorkers is how many texts' status callbacks the simulator posts
// at once in the benchmarks. A real provider posts callbacks as texts
// move, from as many connections as that takes; the platform's default
// of 32 (enough for the fault suite) would make the simulator, not
// delivery, the limit on how fast statuses come back.
const callbackWorkers = "SIMULATOR_CALLBACK_WORKERS=256"

// BenchmarkClusterE2E is the platform at scale: a 100,000-member SMS
// campaign (MUSTER_BENCH_MEMBERS) from the launch call to the simulator
// taking the last text (sent), and on to campaigns' results holding every
// text's final status (settled), every service a process of its own on a
// three-node JetStream cluster with streams of three replicas, with one
// and then two delivery replicas; and, on the same cluster in the same
// run, raw JetStream publish plus acknowledged consume on a stream of
// three replicas.
func BenchmarkClusterE2E(b *testing.B) {
	n := benchMembers("MUSTER_BENCH_MEMBERS", 100_000)
	bins := cluster.Build(b)
	var one, two, raw float64
	for range b.N {
		p := cluster.Start(b, bins, cluster.Options{DeliveryReplicas: 1, SimulatorEnv: []string{callbackWorkers}})
		r := sendOn(b, p, n)
		one = r.sent
		fmt.Printf("BENCH cluster_e2e_1_delivery_sms_per_s %.0f msg/s\n", one)
		fmt.Printf("BENCH cluster_e2e_1_delivery_settled_per_s %.0f msg/s\n", r.settled(b))
		p.Stop()
		// The broker's ceiling first, on the next platform's cluster while
		// its services are idle.
		p = cluster.Start(b, bins, cluster.Options{DeliveryReplicas: 2, SimulatorEnv: []string{callbackWorkers}})
		raw = testkit.RawJetStream(b, p.NATS.URLs(), n, 3, p.NATS.ClientOptions(natsauth.Admin)...)
		fmt.Printf("BENCH cluster_jetstream_raw_per_s %.0f msg/s\n", raw)
		r = sendOn(b, p, n)
		two = r.sent
		fmt.Printf("BENCH cluster_e2e_sms_per_s %.0f msg/s\n", two)
		fmt.Printf("BENCH cluster_e2e_settled_per_s %.0f msg/s\n", r.settled(b))
		p.Stop()
	}
	b.ReportMetric(two, "sms/s")
	fmt.Printf("BENCH cluster_e2e_ratio_to_raw %.3f ratio\n", two/raw)
}

// BenchmarkClusterGrowth shows how time and memory grow with the audience:
// for each size in MUSTER_GROWTH_SIZES (default 10000,100000; the table
// in docs/performance.md adds 1000000), a fresh platform sends to every
// member, and the peak resident memory of each service is read at the end.
func BenchmarkClusterGrowth(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if v := os.Getenv("MUSTER_GROWTH_SIZES"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				b.Fatalf("MUSTER_GROWTH_SIZES %q: want comma-separated member counts", v)
			}
			sizes = append(sizes, n)
		}
	}
	bins := cluster.Build(b)
	for range b.N {
		for _, n := range sizes {
			start := time.Now()
			rate, p := sendAll(b, bins, cluster.Options{}, n)
			elapsed := float64(n) / rate
			fmt.Printf("BENCH cluster_growth_%d_s %.1f s\n", n, elapsed)
			fmt.Printf("BENCH cluster_growth_%d_sms_per_s %.0f msg/s\n", n, rate)
			var peak []string
			for _, proc := range append(append([]*cluster.Process{p.Contacts, p.Simulator}, p.Campaigns...), p.Delivery...) {
				rss, err := proc.PeakRSS()
				if err != nil {
					b.Fatal(err)
				}
				peak = append(peak, fmt.Sprintf("%s=%dMB", proc.Name, rss>>20))
				name := strings.NewReplacer("-", "_").Replace(proc.Name)
				fmt.Printf("BENCH cluster_growth_%d_%s_peak_rss_mb %d MB\n", n, name, rss>>20)
			}
			b.Logf("%d members: %.1fs (%.0f/s, setup %.1fs); peak memory %s", n, elapsed, rate,
				time.Since(start).Seconds()-elapsed, strings.Join(peak, " "))
			p.Stop()
		}
	}
}

// BenchmarkE2EEmailProcesses is BenchmarkE2EEmail (services/devstack/stack)
// with every service a process of its own, so that each one's memory can
// be told apart: 100,000 members (MUSTER_BENCH_MEMBERS) with first names
// all different, the 12 KB alert personalized in subject and body, from
// the launch call to the last email at the SendGrid simulator, through
// contacts, campaigns, JetStream and delivery. The topology is the stack
// benchmark's: one NATS server (in the test's process, as there in the
// one process; with TLS, and like the stack's without an fsync for each
// write), one process each of contacts, campaigns and delivery, the
// simulator in its own, posting SendGrid's events for every email as the
// stack benchmark's does. It prints the rate and, once campaigns' results
// hold every email's final status, the peak resident memory of each
// process.
func BenchmarkE2EEmailProcesses(b *testing.B) {
	n := benchMembers("MUSTER_BENCH_MEMBERS", 100_000)
	bins := cluster.Build(b)
	alert := testkit.Alert()
	// The services' own connection pools, as in the stack (the suite's
	// small ones are for tests sharing a PostgreSQL).
	pool := func(prefix string) []string { return []string{prefix + "DB_MAX_CONNS=16"} }
	opts := cluster.Options{NATSNodes: 1, NATSNoFsync: true, CampaignsReplicas: 1, DeliveryReplicas: 1,
		ContactsEnv: pool("CONTACTS_"), CampaignsEnv: pool("CAMPAIGNS_"), DeliveryEnv: pool("DELIVERY_"),
		SimulatorEnv: []string{"SIMULATOR_AUTO_EMAIL_EVENTS=true"}}
	var rate float64
	for range b.N {
		p := cluster.Start(b, bins, opts)
		p.SeedEmail(n, "bench")
		start := time.Now()
		id := p.LaunchDraft(alert.Draft("bench", "bench"))
		p.WaitEmailed(n, 20*time.Minute)
		rate = float64(n) / time.Since(start).Seconds()
		if got := p.SimEmailCount(); got != n {
			b.Fatalf("the provider took %d emails for %d members", got, n)
		}
		fmt.Printf("BENCH e2e_email_processes_per_s %.0f msg/s\n", rate)
		last := time.Now()
		p.WaitSettled(id, n, 10*time.Minute)
		b.Logf("settled %.1fs after the last email: %.0f emails/s from the launch call", time.Since(last).Seconds(),
			float64(n)/time.Since(start).Seconds())
		// Memory first: asking the simulator for emails makes it
		// write them out.
		var peak []string
		for _, s := range []struct {
			service string
			proc    *cluster.Process
		}{{"contacts", p.Contacts}, {"campaigns", p.Campaigns[0]}, {"delivery", p.Delivery[0]}, {"simulator", p.Simulator}} {
			rss, err := s.proc.PeakRSS()
			if err != nil {
				b.Fatal(err)
			}
			peak = append(peak, fmt.Sprintf("%s=%dMB", s.service, rss>>20))
			fmt.Printf("BENCH e2e_email_%s_peak_rss_mb %d MB\n", s.service, rss>>20)
		}
		self, err := cluster.SelfPeakRSS()
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%d members: %.0f emails/s; peak memory %s; NATS and the benchmark itself (one process) %dMB",
			n, rate, strings.Join(peak, " "), self>>20)
		// Spot-check that members got their own names.
		for _, e := range p.EmailsAt(0, n/2, n-1) {
			if err := alert.Check(e.To, e.Subject, e.Text, e.HTML); err != nil {
				b.Fatal(err)
			}
		}
		p.Stop()
	}
	b.ReportMetric(rate, "email/s")
}

// BenchmarkClusterStopUnderLoad is members' STOPs at 200 a second while a
// 100,000-member alert (MUSTER_BENCH_MEMBERS) sends at full speed, every
// service a process of its own on one NATS node: first with the one
// delivery replica both sending and taking the webhooks, then, on a fresh
// platform in the same run, with the webhooks taken by a delivery replica
// that sends nothing (DELIVERY_SEND=false) beside the one that sends. The
// STOPs are posted from this process straight to the inbound webhook,
// each from a member whose text is still queued when the storm begins. It
// prints each arrangement's STOP latency, the texts sent during the
// storm, and fails if a text was claimed after its member's STOP was
// answered, or any member's text was lost or sent twice.
func BenchmarkClusterStopUnderLoad(b *testing.B) {
	const perSecond, stops = 200, 2000
	n := benchMembers("MUSTER_BENCH_MEMBERS", 100_000)
	bins := cluster.Build(b)
	for range b.N {
		for _, c := range []struct {
			name     string
			webhooks int
		}{{"cluster_stop_under_load", 0}, {"cluster_stop_webhooks_apart", 1}} {
			p := cluster.Start(b, bins, cluster.Options{NATSNodes: 1, NATSNoFsync: true, CampaignsReplicas: 1, DeliveryReplicas: 1, WebhookReplicas: c.webhooks})
			phones := p.Seed(n, "bench")
			members := make([]string, stops)
			for k := range members {
				members[k] = phones[n/4+k*(n*3/4)/stops]
			}
			r := p.Begin(phones, "bench")
			r.StopsFromHere()
			deadline := time.Now().Add(5 * time.Minute)
			for p.SimCount() < n/50 {
				if time.Now().After(deadline) {
					b.Fatalf("%s: sending never began", c.name)
				}
				time.Sleep(20 * time.Millisecond)
			}
			before := p.SimCount()
			r.StopStorm(context.Background(), perSecond, members)()
			during := p.SimCount() - before
			lat := r.StopLatencies()
			rep := r.Settle(15 * time.Minute)
			if len(lat) != stops {
				b.Fatalf("%s: %d of %d STOPs answered", c.name, len(lat), stops)
			}
			fmt.Printf("BENCH %s_p99_ms %.1f ms\n", c.name, float64(lat[stops*99/100].Microseconds())/1000)
			fmt.Printf("BENCH %s_p50_ms %.1f ms\n", c.name, float64(lat[stops/2].Microseconds())/1000)
			fmt.Printf("BENCH %s_texts_sent_during %d msg\n", c.name, during)
			fmt.Printf("BENCH %s_claimed_after_stop %d msg\n", c.name, rep.AfterOptOut)
			if rep.AfterOptOut != 0 || rep.Lost != 0 || rep.Duplicated != 0 {
				b.Fatalf("%s: %d claimed after their STOP, %d lost, %d sent twice: %v", c.name, rep.AfterOptOut, rep.Lost, rep.Duplicated, rep.Problems)
			}
			p.Stop()
		}
	}
}
