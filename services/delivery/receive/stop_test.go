package receive_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/store"
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

// failInbound makes every op ("INSERT" or "UPDATE") on inbound_messages
// fail as a full disk would, until the returned function is called.
func (e *inboundEnv) failInbound(op string) (heal func()) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `
		CREATE FUNCTION fail_record() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
		CREATE TRIGGER fail_record BEFORE `+op+` ON inbound_messages FOR EACH ROW EXECUTE FUNCTION fail_record();`); err != nil {
		e.t.Fatal(err)
	}
	return func() {
		e.t.Helper()
		if _, err := e.pool.Exec(ctx, `DROP TRIGGER fail_record ON inbound_messages`); err != nil {
			e.t.Fatal(err)
		}
	}
}

// A STOP whose record cannot be written leaves nothing half done: its
// claim, record, suppression and events commit in one transaction or not
// at all, and the webhook fails so Twilio retries. The retry does the
// whole of it and confirms it.
func TestStopWhoseWriteFailsWritesNothing(t *testing.T) {
	e := newInboundEnv(t)
	heal := e.failInbound("INSERT")
	stop := inbound("SM30000000000000000000000000000002", "STOP")
	if code, answer := e.postStatus(stop); code < 500 {
		t.Fatalf("a STOP whose record failed was answered %d: %s", code, answer)
	}
	if e.suppressed() || e.count(`SELECT count(*) FROM outbox`) != 0 || e.count(`SELECT count(*) FROM inbound_messages`) != 0 {
		t.Fatal("the failed STOP left a suppression, an event or a claim")
	}
	heal()
	e.clock.Advance(time.Minute)
	if answer := e.post(stop); !strings.Contains(answer, "unsubscribed") || !e.suppressed() {
		t.Fatalf("the retried STOP was not confirmed or did not suppress: %q", answer)
	}
	for _, subject := range []string{events.SubjectConsentChanged, events.SubjectInbound} {
		if n := e.count(`SELECT count(*) FROM outbox WHERE subject = $1`, subject); n != 1 {
			t.Errorf("%d %s events queued, want 1", n, subject)
		}
	}
}

// A STOP claimed by an earlier try whose record could not be written
// (a claim the general way committed first) leaves nothing half done
// either: the suppression and its consent event commit with the record
// or not at all, and the webhook fails so Twilio retries. The retry then
// does the whole of it, as of when delivery first received the STOP, and
// confirms it (the first try added nothing).
func TestStopWhoseRecordFailsLeavesNothingHalfDone(t *testing.T) {
	e := newInboundEnv(t)
	ctx := context.Background()
	heal := e.failInbound("UPDATE")
	stop := inbound("SM30000000000000000000000000000001", "STOP")
	first := e.clock.Now()
	if _, err := e.st.ClaimInbound(ctx, store.Inbound{ProviderID: "SM30000000000000000000000000000001", Channel: string(events.ChannelSMS),
		From: member, To: ourNumber, Body: "STOP"}, first); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if code, answer := e.postStatus(stop); code < 500 {
		t.Fatalf("a STOP whose record failed was answered %d: %s", code, answer)
	}
	if e.suppressed() {
		t.Error("the failed STOP's suppression committed without its record")
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE subject = $1`, events.SubjectConsentChanged); n != 0 {
		t.Errorf("the failed STOP queued %d consent events", n)
	}

	heal()
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

// A STOP is recorded with the campaign and contact of the latest text
// sent to the member, its inbound event says so, and it is confirmed in
// the member's language: Spanish when they texted Spanish words or were
// last written to in Spanish.
func TestStopRecordsTheMembersCampaignAndLanguage(t *testing.T) {
	const english, spanish = "You are unsubscribed.", "Ya no recibirá mensajes."
	for _, tc := range []struct {
		name, lastLang, body, reply string
		sent                        bool
	}{
		{name: "written to in English", lastLang: "en", body: "STOP", reply: english, sent: true},
		{name: "written to in Spanish", lastLang: "es-MX", body: "STOP", reply: spanish, sent: true},
		{name: "Spanish words", lastLang: "en", body: "ALTO", reply: spanish, sent: true},
		{name: "never texted", body: "STOP", reply: english},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newInboundEnv(t)
			ctx := context.Background()
			want := events.InboundReceived{Keyword: "opt_out"}
			if tc.sent {
				want.CampaignID, want.ContactID = "camp-1", "contact-1"
				_, _, err := e.st.Record(ctx, events.SendRequested{IdempotencyKey: "k-1", CampaignID: want.CampaignID, ContactID: want.ContactID,
					Channel: events.ChannelSMS, To: member, Body: "Rally at 6", Language: tc.lastLang}, 1)
				if err != nil {
					t.Fatal(err)
				}
			}
			if answer := e.post(inbound("SM50000000000000000000000000000001", tc.body)); !strings.Contains(answer, tc.reply) {
				t.Fatalf("answered %q, want %q", answer, tc.reply)
			}
			var rec events.InboundReceived
			err := e.pool.QueryRow(ctx, `SELECT id::text, keyword, campaign_id, contact_id FROM inbound_messages`).
				Scan(&rec.MessageID, &rec.Keyword, &rec.CampaignID, &rec.ContactID)
			if err != nil {
				t.Fatal(err)
			}
			want.MessageID = rec.MessageID
			if rec != want {
				t.Errorf("recorded %+v, want %+v", rec, want)
			}
			var payload []byte
			if err := e.pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE subject = $1`, events.SubjectInbound).Scan(&payload); err != nil {
				t.Fatal(err)
			}
			var ev events.InboundReceived
			if err := json.Unmarshal(payload, &ev); err != nil {
				t.Fatal(err)
			}
			got := events.InboundReceived{MessageID: ev.MessageID, Keyword: ev.Keyword, CampaignID: ev.CampaignID, ContactID: ev.ContactID}
			if got != want || ev.From != member || ev.Body != tc.body || ev.Type != events.TypeInboundReceived {
				t.Errorf("announced %+v, want %+v from %s saying %q", ev, want, member, tc.body)
			}
		})
	}
}
