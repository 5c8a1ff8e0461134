package stack_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/musterhq/muster/services/devstack/cluster"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/testkit"
)

// BenchmarkE2EEmail measures a real alert email end to end: 100,000
// members (MUSTER_BENCH_MEMBERS) whose first names are all different, a
// 12 KB HTML alert with a 3 KB text part personalized in subject and
// body, from the launch call to the last email at the SendGrid simulator
// (sent), through contacts (audience pages), campaigns (render, store,
// publish), JetStream, delivery (record, suppression check, mail/send)
// and the simulator, with authenticated NATS users and service tokens as
// in BenchmarkE2ESMS; and on to campaigns' results holding every email's
// final status (settled). As SendGrid does, the simulator posts each
// email's processed and delivered events to delivery's event webhook
// while the sends go on, so the sent rate pays for them too. Every
// service, the embedded NATS server and the simulator share one process
// here, so their memory cannot be told apart by the operating system:
// the benchmark reports the process's peak resident set and the peak of
// the Go heap, and, apart from them, what the simulator holds (it keeps
// every request it took, for tests to read).
func BenchmarkE2EEmail(b *testing.B) {
	var campaignsDB string
	st, members := startBenchStack(b, 100_000, seedEmailContacts, func(o *stack.Options) {
		o.AutoCallbacks, campaignsDB = true, o.CampaignsDB
	})
	runtime.GC()

	b.ResetTimer()
	var rate, settled float64
	var peakHeap uint64
	for range b.N {
		stop := make(chan struct{})
		var peak atomic.Uint64
		go sampleHeap(stop, &peak)
		var id string
		var start time.Time
		id, start, rate = launchEmailAndWait(b, st, members)
		last := time.Now()
		cluster.WaitSettled(b, campaignsDB, id, members, 10*time.Minute)
		settled = float64(members) / time.Since(start).Seconds()
		b.Logf("settled %.1fs after the last email", time.Since(last).Seconds())
		close(stop)
		peakHeap = peak.Load()
	}
	b.StopTimer()
	b.ReportMetric(rate, "email/s")
	fmt.Printf("BENCH e2e_email_per_s %.0f msg/s\n", rate)
	fmt.Printf("BENCH e2e_email_settled_per_s %.0f msg/s\n", settled)
	fmt.Printf("BENCH e2e_email_peak_heap_mb %.0f MB\n", float64(peakHeap)/(1<<20))
	fmt.Printf("BENCH e2e_email_peak_rss_mb %.0f MB\n", peakRSS())
	fmt.Printf("BENCH e2e_email_simulator_held_mb %.0f MB\n", float64(st.Sim.EmailBytes())/(1<<20))
}

// sampleHeap records the largest Go heap (live and not yet collected
// objects) until stop closes.
func sampleHeap(stop <-chan struct{}, peak *atomic.Uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// peakRSS is this process's peak resident set (VmHWM) in MB.
func peakRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// seedEmailContacts loads members with an email address and a first name
// of their own.
func seedEmailContacts(b *testing.B, dsn string, n int) {
	seedMembers(b, dsn, n, "email", func(i int) (string, string) { return testkit.FirstName(i), testkit.MemberEmail(i) })
}

// launchEmailAndWait launches the alert to the n members and returns its
// campaign, when it was launched, and emails per second from then to the
// simulator taking the last one.
func launchEmailAndWait(b *testing.B, st *stack.Stack, n int) (string, time.Time, float64) {
	b.Helper()
	st.Sim.ResetEmails()
	alert := testkit.Alert()
	id, start := createAndLaunch(b, st, alert.Draft("bench", "bench"))
	deadline := start.Add(20 * time.Minute)
	for {
		got := st.Sim.EmailCount()
		if got >= n {
			elapsed := time.Since(start)
			if got != n {
				b.Fatalf("%d emails for %d members", got, n)
			}
			// Spot-check that members got their own names.
			for _, e := range st.Sim.EmailsAt(0, n-1, n/2) {
				if err := alert.Check(e.To, e.Subject, e.Text, e.HTML); err != nil {
					b.Fatal(err)
				}
			}
			return id, start, float64(n) / elapsed.Seconds()
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d emails arrived", got, n)
		}
		if os.Getenv("MUSTER_BENCH_TRACE") == "1" && time.Since(start)%time.Second < 20*time.Millisecond {
			var cs struct {
				Targeted int `json:"targeted"`
			}
			call(b, "campaigns", "GET", st.CampaignsURL+"/campaigns/"+id, nil, &cs)
			fmt.Printf("%5.1fs targeted %d emailed %d\n", time.Since(start).Seconds(), cs.Targeted, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
