package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// process runs the real delivery binary, as production does, so a test
// can kill it with SIGKILL.
type process struct {
	t   *testing.T
	bin string
	env []string
	cmd *exec.Cmd
}

func (p *process) start() {
	p.t.Helper()
	p.cmd = exec.Command(p.bin)
	p.cmd.Env = append(os.Environ(), p.env...)
	p.cmd.Stdout, p.cmd.Stderr = os.Stderr, os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(p.kill)
}

func (p *process) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_, _ = p.cmd.Process.Wait()
		p.cmd = nil
	}
}

// The delivery process is killed with SIGKILL while Twilio holds its
// request after accepting the text (the answer never comes back, so the
// request is never acknowledged). The next process sees the message left
// in sending and never sends it again; the callback settles it; every
// other member gets exactly one text.
func TestFaultKillDashNineAfterProviderAccepted(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "delivery")
	build := exec.Command("go", "build", "-o", bin, "./cmd/delivery")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building delivery: %v\n%s", err, out)
	}
	n := testkit.StartNATS(t)
	_, prefix := testkit.Redis(t)
	dsn := testkit.Database(t, migrationsFS)
	s := sim.New(sim.Config{AutoCallbacks: false}, nil)
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { hs.Close(); s.Close() })
	srv := hs.URL
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))

	held := phone(7001)
	s.SetFaults([]sim.Fault{{To: held, Kind: sim.FaultTimeoutAfterAccept, Count: 1, Hold: time.Minute}})
	p := &process{t: t, bin: bin, env: []string{
		"DELIVERY_HTTP_ADDR=" + addr, "DELIVERY_PUBLIC_URL=http://" + addr, "DELIVERY_DEV_MODE=true",
		"DELIVERY_TRUSTED_CALLERS=" + svcauthtest.Trusted(),
		"DELIVERY_DATABASE_URL=" + dsn, "DELIVERY_NATS_URL=" + n.URL(), "DELIVERY_NATS_SEED=" + n.Seed(natsauth.Delivery),
		"DELIVERY_REDIS_URL=" + testkit.RedisURL(), "DELIVERY_REDIS_PREFIX=" + prefix,
		"DELIVERY_TWILIO_API_URL=" + srv, "DELIVERY_TWILIO_ACCOUNT_SID=" + sim.DefaultAccountSID,
		"DELIVERY_TWILIO_AUTH_TOKEN=" + sim.DefaultAuthToken, "DELIVERY_TWILIO_FROM=+15550001111",
		// Twilio calls give up after 2s, so the kill below (within
		// milliseconds of the acceptance) lands while the call waits; a
		// dead process's messages come back after 3s.
		"DELIVERY_TWILIO_TIMEOUT=2s", "DELIVERY_ACK_WAIT=3s", "DELIVERY_CAP_PER_DAY=0", "DELIVERY_CAP_PER_WEEK=0",
		// A zone where it is daytime now, so quiet hours hold nothing.
		"DELIVERY_TIME_ZONE=" + testkit.DaytimeZone(), "DELIVERY_LOG_LEVEL=warn",
	}}
	p.start()

	nc, js, err := stream.Connect(n.URL(), "test", zap.NewNop(), n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := stream.EnsureStreams(context.Background(), js, stream.Topology{}); err != nil {
		t.Fatal(err)
	}
	send := func(to string, i int) string {
		key := fmt.Sprintf("c.00000000-0000-4000-8000-000000000077.s0.k%d.sms", i)
		req := events.SendRequested{
			Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: 1, OccurredAt: time.Now()},
			IdempotencyKey: key, CampaignID: "00000000-0000-4000-8000-000000000077", ContactID: fmt.Sprintf("k%d", i),
			Channel: events.ChannelSMS, To: to, Body: "Vote Thursday", TimeZone: testkit.DaytimeZone(),
		}
		if err := stream.PublishEventually(context.Background(), js, events.SendSubject(events.ChannelSMS), key, req); err != nil {
			t.Fatal(err)
		}
		return key
	}
	key := send(held, 0)
	testkit.Eventually(t, "Twilio to accept the held text", func() bool { return s.SentTo(held) == 1 })
	p.kill() // SIGKILL: no answer was read, nothing acknowledged

	var others []string
	for i := 1; i <= 20; i++ {
		others = append(others, phone(7001+i))
		send(others[i-1], i)
	}
	p.start()
	h := &harness{t: t, addr: addr}
	m := h.waitStatus(key, "unknown")
	if n := s.SentTo(held); n != 1 {
		t.Fatalf("the held text went %d times, want once", n)
	}
	out := s.Outbox()
	var sid string
	for _, msg := range out {
		if msg.To == held {
			sid = msg.Sid
		}
	}
	if code, err := s.SendStatusCallback(context.Background(), sid, "delivered", ""); err != nil || code != http.StatusNoContent {
		t.Fatalf("callback = %d, %v (message %s)", code, err, m.ID)
	}
	h.waitStatus(key, "delivered")
	for _, to := range others {
		testkit.Eventually(t, "the others' texts", func() bool { return s.SentTo(to) == 1 })
	}
	if d := s.Duplicates(); len(d) != 0 {
		t.Fatalf("duplicates: %v", d)
	}
}
