package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
)

// Run is one campaign going through the platform, watched: how many texts
// the provider has taken over time, which members texted STOP and when,
// and when a fault began and was repaired.
type Run struct {
	t          testing.TB
	p          *Platform
	CampaignID string
	Phones     []string
	Started    time.Time

	// direct posts members' STOPs from this process (StopsFromHere);
	// nil, through the simulator's process.
	direct *sim.Server

	mu              sync.Mutex
	samples         []sample
	stops           map[string]time.Time
	latencies       []time.Duration
	fault, repaired time.Time
	done            chan struct{}
	sampled         sync.WaitGroup
}

type sample struct {
	at    time.Time
	count int
}

// Begin launches an SMS campaign to phones (seeded with tag) and starts
// sampling the simulator's count every 100ms.
func (p *Platform) Begin(phones []string, tag string) *Run {
	p.t.Helper()
	r := &Run{t: p.t, p: p, Phones: phones, stops: map[string]time.Time{}, done: make(chan struct{})}
	r.Started = time.Now()
	r.CampaignID = p.Launch(tag)
	r.sampled.Go(r.sample)
	p.t.Cleanup(r.stopSampling)
	return r
}

func (r *Run) sample() {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.done:
			return
		case now := <-tick.C:
			if n := r.p.SimCount(); n >= 0 {
				r.mu.Lock()
				r.samples = append(r.samples, sample{at: now, count: n})
				r.mu.Unlock()
			}
		}
	}
}

func (r *Run) stopSampling() {
	select {
	case <-r.done:
	default:
		close(r.done)
	}
	r.sampled.Wait()
}

// Fault marks the moment a fault was injected; Repaired the moment it was
// taken away (for a kill with no restart, the same moment).
func (r *Run) Fault() {
	r.mu.Lock()
	r.fault = time.Now()
	r.mu.Unlock()
}

// Repaired marks the moment the fault was taken away.
func (r *Run) Repaired() {
	r.mu.Lock()
	r.repaired = time.Now()
	r.mu.Unlock()
}

// StopStorm has members text STOP at perSecond, in the order given, until
// the list ends or ctx is done. Each STOP is its own request, so a slow
// answer does not slow the storm; one the platform does not take (it is
// down) is tried again a second later. It returns at once; wait for the
// storm with the function it returns.
func (r *Run) StopStorm(ctx context.Context, perSecond int, phones []string) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for _, phone := range phones {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() { r.textStop(ctx, phone) })
		}
	})
	return wg.Wait
}

// StopsFromHere has the storm's STOPs posted from this process, signed
// as Twilio signs them, straight to the platform's inbound webhook: what
// they wait for is then delivery, not the busy simulator's process, and
// StopLatencies reports it.
func (r *Run) StopsFromHere() {
	r.direct = sim.New(sim.Config{InboundURL: r.p.InboundURL}, zap.NewNop())
	r.t.Cleanup(r.direct.Close)
}

// StopLatencies are the answered STOPs' times from the request to the
// answer (the last try's, when one was tried again), shortest first.
func (r *Run) StopLatencies() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.latencies)
	slices.Sort(out)
	return out
}

func (r *Run) textStop(ctx context.Context, phone string) {
	for {
		start := time.Now()
		at, err := r.sendStop(ctx, phone)
		if err == nil {
			r.mu.Lock()
			r.stops[phone] = at
			r.latencies = append(r.latencies, at.Sub(start))
			r.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// sendStop posts phone's STOP and says when it was answered.
func (r *Run) sendStop(ctx context.Context, phone string) (time.Time, error) {
	if r.direct == nil {
		return r.p.TextStop(phone)
	}
	res, err := r.direct.SendReply(ctx, sim.Reply{From: phone, To: Sender, Body: "STOP"})
	if err != nil {
		return time.Time{}, err
	}
	if res.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("STOP from %s: webhook %d", phone, res.StatusCode)
	}
	return time.Now(), nil
}

// Settle waits until the campaign has no message left to send or to
// settle: fan-out finished, the SEND work queue empty, no message queued,
// sending or of unknown outcome, and the provider's count steady. Then it
// accounts for every member.
func (r *Run) Settle(within time.Duration) *Report {
	r.t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(r.p.NATS.URLs(), append(r.p.NATS.ClientOptions(natsauth.Admin), nats.MaxReconnects(-1))...)
	if err != nil {
		r.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	last, steady := -1, 0
	var why string
	for {
		why = r.pending(ctx, js)
		if why == "" {
			n := r.p.SimCount()
			if n == last {
				steady++
			} else {
				last, steady = n, 0
			}
			if steady >= 3 {
				break
			}
		}
		if time.Now().After(deadline) {
			r.t.Errorf("not settled after %s: %s", within, why)
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	r.stopSampling()
	return r.account(ctx)
}

// pending says what is not finished yet, or "" when nothing is.
func (r *Run) pending(ctx context.Context, js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var state string
	if err := queryRow(ctx, r.p.CampaignsDB, `SELECT status FROM campaigns WHERE id = $1::uuid`, []any{r.CampaignID}, &state); err != nil {
		return "campaigns database: " + err.Error()
	}
	if state != "launched" {
		return "fan-out still " + state
	}
	s, err := js.Stream(ctx, events.StreamSend)
	if err != nil {
		return "SEND stream: " + err.Error()
	}
	if n := s.CachedInfo().State.Msgs; n > 0 {
		return fmt.Sprintf("%d send requests still queued in JetStream", n)
	}
	var open int
	if err := queryRow(ctx, r.p.DeliveryDB, `SELECT count(*) FROM messages WHERE campaign_id = $1
		AND status IN ('queued', 'sending', 'unknown')`, []any{r.CampaignID}, &open); err != nil {
		return "delivery database: " + err.Error()
	}
	if open > 0 {
		return fmt.Sprintf("%d messages queued, sending or of unknown outcome", open)
	}
	return ""
}

func queryRow(ctx context.Context, dsn, sql string, args []any, dest ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
}

// callQuiet makes a JSON request without failing the test, for pollers
// that run while parts of the platform are down.
func callQuiet(method, url string, body, out any) (int, error) {
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// outbox is every text the simulator took, by number.
func (r *Run) outbox() map[string][]sim.Message {
	r.t.Helper()
	var out struct {
		Messages []sim.Message `json:"messages"`
	}
	if code, err := callQuiet("GET", r.p.SimURL+"/sim/outbox?since=0", nil, &out); err != nil || code != 200 {
		r.t.Fatalf("reading the simulator's outbox: %d, %v", code, err)
	}
	by := make(map[string][]sim.Message, len(out.Messages))
	for _, m := range out.Messages {
		if m.Direction == "outbound-api" {
			by[m.To] = append(by[m.To], m)
		}
	}
	return by
}

// WaitStatus waits until n of the campaign's texts are in status st in
// delivery's log, and returns how many are; it fails the test when that
// does not happen within the time given.
func (r *Run) WaitStatus(st string, n int, within time.Duration) int {
	r.t.Helper()
	deadline := time.Now().Add(within)
	var got int
	for {
		err := queryRow(context.Background(), r.p.DeliveryDB, `SELECT count(*) FROM messages WHERE campaign_id = $1 AND status = $2`,
			[]any{r.CampaignID, st}, &got)
		if err == nil && got >= n {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d texts %s after %s (last error: %v)", got, n, st, within, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
