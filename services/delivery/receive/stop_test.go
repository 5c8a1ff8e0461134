package receive_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/shared/events"
)

// postStatus sends a webhook and returns its status code and answer.
func (e *inboundEnv) postStatus(in signedInbound) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+twilio.InboundPath, strings.NewReader(in.body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", in.signature)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer)
}

// count runs a count(*) query.
func (e *inboundEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A STOP whose record cannot be written leaves nothing half done: the
// suppression and its consent event commit with the record or not at
// all, and the webhook fails so Twilio retries. The retry then does the
// whole of it, as of when delivery first received the STOP, and
// confirms it (the first try added nothing).
func TestStopWhoseRecordFailsLeavesNothingHalfDone(t *testing.T) {
	e := newInboundEnv(t)
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `
		CREATE FUNCTION fail_record() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
		CREATE TRIGGER fail_record BEFORE UPDATE ON inbound_messages FOR EACH ROW EXECUTE FUNCTION fail_record();`); err != nil {
		t.Fatal(err)
	}
	stop := inbound("SM30000000000000000000000000000001", "STOP")
	first := e.clock.Now()
	if code, answer := e.postStatus(stop); code < 500 {
		t.Fatalf("a STOP whose record failed was answered %d: %s", code, answer)
	}
	if e.suppressed() {
		t.Error("the failed STOP's suppression committed without its record")
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectConsentChanged); n != 0 {
		t.Errorf("the failed STOP queued %d consent events", n)
	}

	if _, err := e.pool.Exec(ctx, `DROP TRIGGER fail_record ON inbound_messages`); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if answer := e.post(stop); !strings.Contains(answer, "unsubscribed") {
		t.Fatalf("the retried STOP was not confirmed: %q", answer)
	}
	if !e.suppressed() {
		t.Fatal("the retried STOP did not suppress")
	}
	var at time.Time
	if err := e.pool.QueryRow(ctx, `SELECT renewed_at FROM suppressions WHERE address = $1`, member).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if !at.Equal(first) {
		t.Errorf("suppressed as of %v, want the first try's %v", at, first)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectConsentChanged); n != 1 {
		t.Errorf("%d consent events queued, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectInbound); n != 1 {
		t.Errorf("%d inbound events queued, want 1", n)
	}
}

// Deliveries of one STOP webhook that arrive together are all answered
// alike, the confirmation in each answer, and the message is recorded
// once.
func TestConcurrentStopsAnswerAlike(t *testing.T) {
	e := newInboundEnv(t)
	stop := inbound("SM40000000000000000000000000000001", "STOP")
	const n = 8
	answers := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { codes[i], answers[i] = e.postStatus(stop) })
	}
	wg.Wait()
	for i := range n {
		if codes[i] != http.StatusOK || answers[i] != answers[0] || !strings.Contains(answers[i], "unsubscribed") {
			t.Errorf("delivery %d answered %d %q; the first %d %q", i, codes[i], answers[i], codes[0], answers[0])
		}
	}
	if !e.suppressed() {
		t.Fatal("the STOP did not suppress")
	}
	if got := e.count(`SELECT count(*) FROM inbound_messages WHERE handled_at IS NOT NULL`); got != 1 {
		t.Errorf("%d messages recorded, want 1", got)
	}
}
