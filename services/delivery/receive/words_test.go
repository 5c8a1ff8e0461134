package receive_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// inboundWith is an inbound webhook with extra Twilio fields (OptOutType).
func inboundWith(sid, body string, extra url.Values) signedInbound {
	p := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {"AC0123"},
		"From": {member}, "To": {ourNumber}, "Body": {body}, "NumMedia": {"0"}, "SmsStatus": {"received"},
	}
	for k, v := range extra {
		p[k] = v
	}
	return signedInbound{body: p.Encode(), signature: sign(p)}
}

// replies counts the <Message> elements of a TwiML answer.
func replies(twiml string) int { return strings.Count(twiml, "<Message") }

// What a new user tried: each of these suppresses before the webhook
// answers, with one confirmation in the member's language.
func TestEveryWayOfSayingStopSuppresses(t *testing.T) {
	cases := []struct {
		body, confirmation string
	}{
		{"Please STOP", "You are unsubscribed."}, {"Stop please", "You are unsubscribed."},
		{"I want to opt out", "You are unsubscribed."}, {"Stop 🛑", "You are unsubscribed."},
		{"Wrong number", "You are unsubscribed."}, {"ALTO", "Ya no recibirá mensajes."},
		{"PARAR", "Ya no recibirá mensajes."}, {"BAJA", "Ya no recibirá mensajes."},
		{"ya no me manden mensajes", "Ya no recibirá mensajes."},
	}
	for i, c := range cases {
		t.Run(c.body, func(t *testing.T) {
			e := newInboundEnv(t)
			sid := "SM3000000000000000000000000000000" + string(rune('a'+i))
			answer := e.post(inbound(sid, c.body))
			if !e.suppressed() {
				t.Fatalf("%q did not suppress", c.body)
			}
			if replies(answer) != 1 || !strings.Contains(answer, c.confirmation) {
				t.Fatalf("%q answered %q, want one %q", c.body, answer, c.confirmation)
			}
			// Twilio retries the webhook: still one confirmation in all.
			if again := e.post(inbound(sid, c.body)); again != answer {
				t.Fatalf("the retry answered %q, the first %q", again, answer)
			}
		})
	}
}

// Members who are talking stay reachable.
func TestTalkingIsNotStopping(t *testing.T) {
	e := newInboundEnv(t)
	for i, body := range []string{"don't stop fighting", "where is the bus stop?", "is the meeting cancelled?", "stop by the union hall at 5?"} {
		answer := e.post(inbound("SM4000000000000000000000000000000"+string(rune('a'+i)), body))
		if e.suppressed() || replies(answer) != 0 {
			t.Fatalf("%q suppressed the member or got a keyword reply %q", body, answer)
		}
	}
}

// Twilio's Advanced Opt-Out says STOP of a word Muster does not know:
// the number is suppressed at once, and Muster does not confirm a second
// time (Twilio already did).
func TestOptOutTypeSuppressesWithoutASecondConfirmation(t *testing.T) {
	e := newInboundEnv(t)
	answer := e.post(inboundWith("SM50000000000000000000000000000001", "ARRET", url.Values{"OptOutType": {"STOP"}}))
	if !e.suppressed() {
		t.Fatal("OptOutType=STOP did not suppress")
	}
	if replies(answer) != 0 {
		t.Fatalf("answered %q after Twilio's own confirmation", answer)
	}
}

// START lifts the member's own STOP, and only after one.
func TestStartLiftsOnlyAfterStop(t *testing.T) {
	e := newInboundEnv(t)
	if answer := e.post(inbound("SM60000000000000000000000000000001", "START")); replies(answer) != 0 || e.suppressed() {
		t.Fatalf("START with nothing to lift answered %q", answer)
	}
	e.clock.Advance(time.Minute)
	e.post(inbound("SM60000000000000000000000000000002", "STOP"))
	e.clock.Advance(time.Minute)
	if answer := e.post(inbound("SM60000000000000000000000000000003", "START")); e.suppressed() || !strings.Contains(answer, optInText) {
		t.Fatalf("START after STOP: answer %q, suppressed %v", answer, e.suppressed())
	}
}

// JOIN welcomes the member and announces their opt-in with the message
// as evidence; for a member who had opted out it lifts their own STOP.
func TestJoinWelcomesAndAnnouncesTheOptIn(t *testing.T) {
	e := newInboundEnv(t)
	ctx := context.Background()
	if answer := e.post(inbound("SM70000000000000000000000000000001", "JOIN")); !strings.Contains(answer, "Welcome!") {
		t.Fatalf("JOIN answered %q", answer)
	}
	var change, source, evidence string
	err := e.pool.QueryRow(ctx, `SELECT p->>'change', p->>'source', p->>'evidence'
		FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS p, subject, msg_id FROM outbox) o WHERE subject = $1 AND msg_id = $2`, events.SubjectConsentChanged, "join.SM70000000000000000000000000000001").Scan(&change, &source, &evidence)
	if err != nil {
		t.Fatal(err)
	}
	if change != events.ConsentSubscribed || source != events.SourceJoinKeyword || !strings.Contains(evidence, "SM70000000000000000000000000000001") {
		t.Fatalf("join announced as %s by %s with %q", change, source, evidence)
	}
	e.clock.Advance(time.Minute)
	e.post(inbound("SM70000000000000000000000000000002", "ALTO"))
	e.clock.Advance(time.Minute)
	if answer := e.post(inbound("SM70000000000000000000000000000003", "unete")); e.suppressed() || !strings.Contains(answer, "¡Bienvenido!") {
		t.Fatalf("UNETE after ALTO: answer %q, suppressed %v", answer, e.suppressed())
	}
}
