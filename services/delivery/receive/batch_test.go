package receive_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/publish/publishtest"
	"github.com/musterhq/muster/services/delivery/receive"
	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

// batchEnv is a receiver with its batches running on a fresh database.
type batchEnv struct {
	t    *testing.T
	pool *pgxpool.Pool
	st   *store.Store
	recv *receive.Receiver
	pub  *publishtest.Recorder
}

func newBatchEnv(t *testing.T) *batchEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool, err := postgres.Open(ctx, testkit.Database(t, migrations.FS), 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	clock := &testClock{now: time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)}
	st := store.New(pool, clock.Now)
	pub := &publishtest.Recorder{}
	recv := receive.New(st, pub, func() settings.Rules { return settings.Rules{} }, clock.Now, zaptest.NewLogger(t))
	go recv.RunBatches(ctx)
	return &batchEnv{t: t, pool: pool, st: st, recv: recv, pub: pub}
}

// messages records n messages on ch, claimed for sending, and returns
// their ids.
func (e *batchEnv) messages(n int, ch events.Channel) []string {
	e.t.Helper()
	reqs := make([]events.SendRequested, n)
	for i := range reqs {
		campaign := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		key := events.IdempotencyKey(campaign, 0, "c", ch)
		to := fmt.Sprintf("+1212555%04d", i)
		if ch == events.ChannelEmail {
			to = fmt.Sprintf("m%d@local1199.org", i)
		}
		reqs[i] = events.SendRequested{IdempotencyKey: key, CampaignID: campaign, ContactID: "c", Channel: ch, To: to, Body: "hi"}
	}
	made, err := e.st.RecordAndClaimMany(context.Background(), reqs, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, 0, n)
	for _, r := range reqs {
		ids = append(ids, made[r.IdempotencyKey].ID)
	}
	return ids
}

func (e *batchEnv) statusOf(id string) status.Status {
	e.t.Helper()
	m, err := e.st.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.Status
}

func (e *batchEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func report(id string, st status.Status) provider.StatusReport {
	return provider.StatusReport{MessageID: id, ProviderID: "P" + id, Status: st, ProviderStatus: string(st)}
}

// Many concurrent callbacks, each message's reports in a random order
// (delivered often before sent): every one is answered, logged once, and
// every message ends delivered, announced only ever forward.
func TestConcurrentReportsOnlyMoveForward(t *testing.T) {
	e := newBatchEnv(t)
	ids := e.messages(200, events.ChannelSMS)
	var reports []provider.StatusReport
	for _, id := range ids {
		reports = append(reports, report(id, status.Accepted), report(id, status.Sent), report(id, status.Delivered))
	}
	rand.Shuffle(len(reports), func(i, j int) { reports[i], reports[j] = reports[j], reports[i] })
	var wg sync.WaitGroup
	errs := make(chan error, len(reports))
	for _, r := range reports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.recv.Status(context.Background(), r)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a report was refused: %v", err)
		}
	}
	for _, id := range ids {
		if st := e.statusOf(id); st != status.Delivered {
			t.Fatalf("message %s ended %s, want delivered", id, st)
		}
		seen := e.pub.Of(id)
		if len(seen) == 0 || seen[len(seen)-1] != status.Delivered {
			t.Fatalf("message %s announced %v, want it to end delivered", id, seen)
		}
		for i := 1; i < len(seen); i++ {
			if seen[i].Rank() <= seen[i-1].Rank() {
				t.Fatalf("message %s announced backwards: %v", id, seen)
			}
		}
	}
	if n := e.count(`SELECT count(*) FROM message_events`); n != len(reports) {
		t.Fatalf("%d reports logged, want %d", n, len(reports))
	}
	// Each message moved once per status it reached: no report that lost
	// its batch to a higher one is logged as applied.
	if n := e.count(`SELECT count(*) FROM message_events WHERE applied AND status = 'delivered'`); n != len(ids) {
		t.Fatalf("%d delivered reports applied, want %d", n, len(ids))
	}
}

// A late report never moves a message back, in one batch or across them.
func TestLateReportsNeverMoveBack(t *testing.T) {
	e := newBatchEnv(t)
	id := e.messages(1, events.ChannelSMS)[0]
	ctx := context.Background()
	if err := e.recv.Status(ctx, report(id, status.Delivered)); err != nil {
		t.Fatal(err)
	}
	for _, st := range []status.Status{status.Sent, status.Accepted, status.Failed} {
		if err := e.recv.Status(ctx, report(id, st)); err != nil {
			t.Fatal(err)
		}
		if got := e.statusOf(id); got != status.Delivered {
			t.Fatalf("a late %s moved delivered to %s", st, got)
		}
	}
	if err := e.recv.Status(ctx, report("6f1c2b3a-4d5e-4f70-8a9b-0c1d2e3f4a5b", status.Sent)); err == nil {
		t.Fatal("a report for no message was accepted")
	}
}

// breakWrites makes every write of a report fail in the database, as a
// failed commit would, until the returned func mends it.
func (e *batchEnv) breakWrites() func() {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `
		CREATE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
		CREATE TRIGGER refuse_events BEFORE INSERT ON message_events FOR EACH ROW EXECUTE FUNCTION refuse_write();
		CREATE TRIGGER refuse_email BEFORE INSERT ON email_events FOR EACH ROW EXECUTE FUNCTION refuse_write();`)
	if err != nil {
		e.t.Fatal(err)
	}
	return func() {
		if _, err := e.pool.Exec(ctx, `DROP TRIGGER refuse_events ON message_events; DROP TRIGGER refuse_email ON email_events;
			DROP FUNCTION refuse_write()`); err != nil {
			e.t.Fatal(err)
		}
	}
}

// A batch whose write fails answers every callback in it with an error
// (the webhook answers 5xx and the provider posts again) and applies none
// of it; posted again, every report is applied: nothing is lost.
func TestFailedBatchAnswersEveryWaiterWithAnError(t *testing.T) {
	e := newBatchEnv(t)
	ids := e.messages(50, events.ChannelSMS)
	mend := e.breakWrites()
	post := func() []error {
		var wg sync.WaitGroup
		errs := make([]error, len(ids))
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.recv.Status(context.Background(), report(id, status.Delivered))
			}()
		}
		wg.Wait()
		return errs
	}
	for i, err := range post() {
		if err == nil {
			t.Fatalf("report %d answered OK though its batch failed", i)
		}
	}
	for _, id := range ids {
		if st := e.statusOf(id); st != status.Sending {
			t.Fatalf("a failed batch moved %s to %s", id, st)
		}
	}
	mend()
	for i, err := range post() {
		if err != nil {
			t.Fatalf("report %d posted again: %v", i, err)
		}
	}
	for _, id := range ids {
		if st := e.statusOf(id); st != status.Delivered {
			t.Fatalf("%s is %s after the provider posted again", id, st)
		}
	}
}

// Concurrent email event posts repeating each other's events act on
// each event once; a post whose batch failed is acted on when posted
// again, not skipped as seen.
func TestEmailEventsBatchedOnceEach(t *testing.T) {
	e := newBatchEnv(t)
	ids := e.messages(40, events.ChannelEmail)
	ctx := context.Background()
	post := func(id string, i int) []provider.EmailEvent {
		return []provider.EmailEvent{
			{ID: fmt.Sprintf("d%d", i), MessageID: id, Name: "delivered", Status: status.Delivered},
			{ID: fmt.Sprintf("p%d", i), MessageID: id, Name: "processed", Status: status.Accepted},
		}
	}
	mend := e.breakWrites()
	if err := e.recv.EmailEvents(ctx, post(ids[0], 0)); err == nil {
		t.Fatal("events answered OK though their batch failed")
	}
	mend()
	var wg sync.WaitGroup
	for round := range 2 { // every post twice, concurrently: SendGrid repeats
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := e.recv.EmailEvents(ctx, post(id, i)); err != nil {
					t.Errorf("round %d post %d: %v", round, i, err)
				}
			}()
		}
	}
	wg.Wait()
	for _, id := range ids {
		if st := e.statusOf(id); st != status.Delivered {
			t.Fatalf("%s is %s, want delivered", id, st)
		}
	}
	if n := e.count(`SELECT count(*) FROM email_events`); n != 2*len(ids) {
		t.Fatalf("%d events recorded, want %d", n, 2*len(ids))
	}
	if n := e.count(`SELECT count(*) FROM message_events WHERE status = 'delivered' AND applied`); n != len(ids) {
		t.Fatalf("%d delivered events applied, want %d", n, len(ids))
	}
}

// A report saying the carrier opted the recipient out suppresses the
// message's number.
func TestCarrierOptOutReportSuppressesTheNumber(t *testing.T) {
	e := newBatchEnv(t)
	id := e.messages(1, events.ChannelSMS)[0]
	ctx := context.Background()
	msg, err := e.st.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	rep := report(id, status.Undelivered)
	rep.OptedOut, rep.ErrorCode, rep.Evidence = true, "21610", "carrier opt-out on P"+id
	if err := e.recv.Status(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.st.IsSuppressed(ctx, string(events.ChannelSMS), msg.To); err != nil || !ok {
		t.Fatalf("%s not suppressed after the carrier's opt-out: %v %v", msg.To, ok, err)
	}
	if n := e.count(`SELECT count(*) FROM suppressions WHERE address = ''`); n != 0 {
		t.Fatalf("%d empty addresses suppressed", n)
	}
}
