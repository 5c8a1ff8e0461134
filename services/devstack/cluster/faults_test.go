package cluster_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/musterhq/muster/services/devstack/cluster"
	"github.com/musterhq/muster/shared/events"
)

// members is the size of each case's campaign: 20,000 unless
// MUSTER_FAULT_MEMBERS says otherwise.
func members() int {
	if n, err := strconv.Atoi(os.Getenv("MUSTER_FAULT_MEMBERS")); err == nil && n > 0 {
		return n
	}
	return 20_000
}

// scenario starts a platform, seeds the members, launches the campaign,
// lets a fifth of it go out, then runs fault and accounts for everyone.
func scenario(t *testing.T, o cluster.Options, fault func(p *cluster.Platform, r *cluster.Run)) (*cluster.Report, *cluster.Run) {
	t.Helper()
	n := members()
	return scenarioAt(t, o, func(p *cluster.Platform, _ *cluster.Run) bool { return p.SimCount() >= n/5 }, fault)
}

// scenarioAt is scenario with the moment of the fault chosen by ready,
// polled every 5ms after the launch.
func scenarioAt(t *testing.T, o cluster.Options, ready func(p *cluster.Platform, r *cluster.Run) bool,
	fault func(p *cluster.Platform, r *cluster.Run)) (*cluster.Report, *cluster.Run) {
	t.Helper()
	if testing.Short() {
		t.Skip("the fault-injection suite runs the whole platform; skipped with -short")
	}
	began := time.Now()
	bins := cluster.Build(t)
	built := time.Now()
	p := cluster.Start(t, bins, o)
	phones := p.Seed(members(), "members")
	started := time.Now()
	r := p.Begin(phones, "members")
	deadline := time.Now().Add(3 * time.Minute)
	for !ready(p, r) {
		if time.Now().After(deadline) {
			t.Fatal("the moment for the fault never came")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fault(p, r)
	rep := r.Settle(4 * time.Minute)
	t.Logf("build %.1fs, start and seed %.1fs, run and settle %.1fs", built.Sub(began).Seconds(),
		started.Sub(built).Seconds(), time.Since(started).Seconds())
	rep.Check(t)
	return rep, r
}

// outage runs a case in which down breaks a part of the platform and up,
// after d, repairs it.
func outage(t *testing.T, o cluster.Options, d time.Duration, down, up func(p *cluster.Platform)) *cluster.Report {
	t.Helper()
	rep, _ := scenario(t, o, func(p *cluster.Platform, r *cluster.Run) {
		r.Fault()
		down(p)
		time.Sleep(d)
		up(p)
		r.Repaired()
	})
	return rep
}

// allSent checks that every member got the text: with nothing suppressed
// or invalid, a fault may delay a text but never cost one.
func allSent(t *testing.T, rep *cluster.Report) {
	t.Helper()
	if rep.Sent != rep.Members {
		t.Errorf("sent %d of %d", rep.Sent, rep.Members)
	}
}

// A delivery replica is killed with SIGKILL mid-send; the other carries on
// and the killed one comes back two seconds later.
func TestFaultKillDeliveryReplica(t *testing.T) {
	rep := outage(t, cluster.Options{}, 2*time.Second,
		func(p *cluster.Platform) { p.Delivery[0].Kill() }, func(p *cluster.Platform) { p.Delivery[0].Start() })
	allSent(t, rep)
}

// The campaigns replica fanning the audience out is killed with SIGKILL
// part-way; the other takes the lease over when it lapses and finishes
// from the last acknowledged page. Small pages make "part-way" certain.
func TestFaultKillCampaignsReplicaMidFanout(t *testing.T) {
	o := cluster.Options{CampaignsEnv: []string{"CAMPAIGNS_FANOUT_PAGE_SIZE=100", "CAMPAIGNS_FANOUT_WINDOW=200"}}
	rep, _ := scenarioAt(t, o, func(p *cluster.Platform, r *cluster.Run) bool {
		f, err := p.FanoutOf(context.Background(), r.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		if f.Status == "done" {
			t.Fatalf("fan-out done before it could be interrupted (%d published)", f.Published)
		}
		return f.Status == "running" && f.Published > 0 && f.Owner != ""
	}, func(p *cluster.Platform, r *cluster.Run) {
		f, err := p.FanoutOf(context.Background(), r.CampaignID)
		if err != nil {
			t.Fatal(err)
		}
		victim := p.CampaignsByName(f.Owner)
		r.Fault()
		victim.Kill()
		t.Logf("killed %s after %d of %d send requests were published", f.Owner, f.Published, len(r.Phones))
		time.Sleep(2 * time.Second)
		victim.Start()
		r.Repaired()
	})
	allSent(t, rep)
}

// The node leading the SEND stream is stopped mid-send; a follower is
// elected and the services' connections move to the two left. The node
// comes back after five seconds.
func TestFaultKillStreamLeader(t *testing.T) {
	rep, _ := scenario(t, cluster.Options{}, func(p *cluster.Platform, r *cluster.Run) {
		leader := p.NATS.StreamLeader(events.StreamSend)
		if leader < 0 {
			t.Fatal("no node leads the SEND stream")
		}
		r.Fault()
		p.NATS.Stop(leader)
		t.Logf("stopped nats-%d, the SEND stream's leader", leader+1)
		time.Sleep(5 * time.Second)
		p.NATS.Start(leader)
		r.Repaired()
	})
	allSent(t, rep)
}

// Every NATS node is stopped at once mid-send and the cluster is started
// again three seconds later from its stores.
func TestFaultRestartNATSCluster(t *testing.T) {
	rep := outage(t, cluster.Options{}, 3*time.Second,
		func(p *cluster.Platform) { p.NATS.StopAll() }, func(p *cluster.Platform) { p.NATS.StartAll() })
	allSent(t, rep)
}

// Redis, which holds the shared rate limits and caps, is stopped for ten
// seconds mid-send: delivery stops sending (no send without a rate-limit
// decision) and resumes by itself.
func TestFaultRedisDown(t *testing.T) {
	rep := outage(t, cluster.Options{PrivateRedis: true}, 10*time.Second,
		func(p *cluster.Platform) { p.Redis.Stop() }, func(p *cluster.Platform) { p.Redis.Start() })
	allSent(t, rep)
	if rep.RateDuring > rep.RateBefore/10 {
		t.Errorf("%.0f texts/s while Redis was down: sending should pause", rep.RateDuring)
	}
}

// PostgreSQL, which holds every service's state, is stopped for ten
// seconds mid-send: no text goes without a written record and a
// suppression check, and everything resumes by itself.
func TestFaultPostgresDown(t *testing.T) {
	rep := outage(t, cluster.Options{PrivatePostgres: true}, 10*time.Second,
		func(p *cluster.Platform) { p.Postgres.Stop() }, func(p *cluster.Platform) { p.Postgres.Start() })
	allSent(t, rep)
}

// For five seconds the provider takes one text in 20 and then never
// answers (the call times out), and answers 503 after taking one in 20
// more: each outcome is unknown to delivery, which must neither resend
// blindly nor give up; the status callback or a lookup settles it.
func TestFaultProviderTimeoutsAfterAccept(t *testing.T) {
	providerFaults(t, []map[string]any{
		{"kind": "timeout_after_accept", "percent": 5, "seed": 7, "hold": "5s"},
		{"kind": "503_after_accept", "percent": 5, "seed": 8},
	})
}

// providerFaults runs a case in which the simulator applies rules for
// five seconds; every member must still get the text exactly once.
func providerFaults(t *testing.T, rules []map[string]any) {
	t.Helper()
	rep, _ := scenario(t, cluster.Options{}, func(p *cluster.Platform, r *cluster.Run) {
		r.Fault()
		p.SetFaults(rules)
		time.Sleep(5 * time.Second)
		p.ClearFaults()
		r.Repaired()
	})
	allSent(t, rep)
}

// For five seconds the provider refuses three texts in ten with 429 and
// one in ten with a 500 before taking it: the 429s wait and go again, the
// 500s are unknown until a lookup finds Twilio never had them, and then
// go again; nothing goes twice.
func TestFaultProvider429And5xxStorm(t *testing.T) {
	providerFaults(t, []map[string]any{
		{"kind": "429", "percent": 30, "seed": 1},
		{"kind": "500", "percent": 10, "seed": 2},
	})
}

// Every status callback arrives three times, in shuffled order, from the
// start: every text still ends delivered.
func TestFaultCallbacksShuffledThreeTimes(t *testing.T) {
	o := cluster.Options{SimulatorEnv: []string{"SIMULATOR_CALLBACK_ORDER=shuffled", "SIMULATOR_CALLBACK_REPEAT=3"}}
	rep, r := scenario(t, o, func(p *cluster.Platform, r *cluster.Run) {})
	allSent(t, rep)
	// 120,000 callbacks trail the sends; wait for them all.
	if got := r.WaitStatus("delivered", rep.Members, 4*time.Minute); got != rep.Members {
		t.Errorf("%d texts delivered, want %d", got, rep.Members)
	}
}

// Members text STOP at 50 a second while their texts are being sent: none
// is claimed for sending after the STOP was answered, texts already in
// the provider call go (as they would at Twilio), and the rest are
// suppressed or never requested.
func TestFaultStopsWhileSending(t *testing.T) {
	var stopped []string
	rep, _ := scenario(t, cluster.Options{}, func(p *cluster.Platform, r *cluster.Run) {
		// Every fifth member from the fifth of the audience already sent
		// onwards: some in flight, most still queued.
		for i := len(r.Phones) / 5; i < len(r.Phones); i += 5 {
			stopped = append(stopped, r.Phones[i])
		}
		r.Fault()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		wait := r.StopStorm(ctx, 50, stopped)
		wait()
		r.Repaired()
	})
	if rep.Stops == 0 || rep.Suppressed+rep.SkippedOptedOut == 0 {
		t.Errorf("%d STOPs answered, %d suppressed: the storm did not reach the queue", rep.Stops, rep.Suppressed+rep.SkippedOptedOut)
	}
	if got := rep.Sent + rep.Suppressed + rep.SkippedOptedOut; got != rep.Members {
		t.Errorf("sent %d + suppressed %d + skipped %d != %d", rep.Sent, rep.Suppressed, rep.SkippedOptedOut, rep.Members)
	}
}
