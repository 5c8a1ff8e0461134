package app_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
)

// unclear is a text the consent package cannot call either way: it goes
// to the review queue.
const unclear = "I told you already to stop"

// aFriday puts the harness clock at noon in New York on a Friday, so the
// deadline (10 business days) is two Fridays later whatever day the test
// runs.
//
// Call it before the service starts: moved back under a running service
// (from a shifted test clock months on), a sweep that had read the later
// time could decide a review the moment it is opened.
func aFriday(h *harness) time.Time {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		h.t.Fatal(err)
	}
	at := time.Date(2026, time.December, 4, 12, 0, 0, 0, ny)
	h.clock.Set(at)
	return at
}

// inboundAs posts Twilio's inbound webhook for one message, signed as
// Twilio signs it, under a MessageSid the test chooses, so the test can
// send the same message again as Twilio does when it retries.
func (h *harness) inboundAs(sid, from, body string) string {
	h.t.Helper()
	p := url.Values{"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {sim.DefaultAccountSID},
		"From": {from}, "To": {"+15550001111"}, "Body": {body}, "NumMedia": {"0"}, "SmsStatus": {"received"}}
	target := "http://" + h.addr + twilio.InboundPath
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(target)
	for _, k := range keys {
		b.WriteString(k + p.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(sim.DefaultAuthToken))
	mac.Write([]byte(b.String()))
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(p.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("inbound webhook = %d %s", resp.StatusCode, answer)
	}
	return string(answer)
}

type reviewList struct {
	Reviews []store.Review `json:"reviews"`
	Next    string         `json:"next"`
	DueSoon int            `json:"due_soon"`
}

func (h *harness) reviews(state string) reviewList {
	h.t.Helper()
	var out reviewList
	if code := h.get("/reviews?state="+state, &out); code != http.StatusOK {
		h.t.Fatalf("GET /reviews?state=%s = %d", state, code)
	}
	return out
}

// decide posts a decision and returns the status and the review.
func (h *harness) decide(id, body string) (int, store.Review) {
	h.t.Helper()
	resp, err := api().Post("http://"+h.addr+"/reviews/"+id+"/decision", "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var rv store.Review
	_ = json.NewDecoder(resp.Body).Decode(&rv)
	return resp.StatusCode, rv
}

// metrics is what delivery's /metrics shows a trusted caller.
func (h *harness) metrics() string {
	h.t.Helper()
	resp, err := api().Get("http://" + h.addr + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// suppressionOf reads an address's entry on the suppression list.
func suppressionOf(h *harness, addr string) (store.Suppression, bool) {
	var sup struct {
		Suppressions []store.Suppression `json:"suppressions"`
	}
	h.get("/suppressions?q="+url.QueryEscape(addr), &sup)
	for _, s := range sup.Suppressions {
		if s.Address == addr {
			return s, true
		}
	}
	return store.Suppression{}, false
}

// consentEvent finds the consent event with id on the CONSENT stream.
func consentEvent(t *testing.T, h *harness, id string) events.ConsentChanged {
	t.Helper()
	s, err := h.js.Stream(context.Background(), events.StreamConsent)
	if err != nil {
		t.Fatal(err)
	}
	var found events.ConsentChanged
	testkit.Eventually(t, "consent event "+id, func() bool {
		info, err := s.Info(context.Background())
		if err != nil {
			return false
		}
		for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
			raw, err := s.GetMsg(context.Background(), seq)
			if err != nil || raw.Subject != events.SubjectConsentChanged {
				continue
			}
			var ev events.ConsentChanged
			if json.Unmarshal(raw.Data, &ev) == nil && ev.ID == id {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

// A text that might be an opt-out opens one review, however often Twilio
// retries its webhook, due 10 business days after delivery first received
// it: received on a Friday, due two Fridays later at the same hour. It
// suppresses nothing by itself.
func TestPossibleOptOutOpensOneReview(t *testing.T) {
	if got := consent.Read(unclear).Meaning; got != consent.Review {
		t.Fatalf("%q reads as %q; the test needs a text for review", unclear, got)
	}
	h := newHarness(t, setup{})
	friday := aFriday(h)
	h.start(nil)
	member := phone(801)
	first := h.inboundAs("SMreview0001", member, unclear)
	h.clock.Advance(time.Minute)
	if again := h.inboundAs("SMreview0001", member, unclear); again != first {
		t.Errorf("the retried webhook answered %q, the first %q", again, first)
	}
	open := h.reviews("open")
	if len(open.Reviews) != 1 {
		t.Fatalf("%d open reviews after one text sent twice, want 1: %+v", len(open.Reviews), open.Reviews)
	}
	rv := open.Reviews[0]
	// The test clock runs on: the text was received a moment after noon.
	if d := rv.ReceivedAt.Sub(friday); d < 0 || d > 5*time.Second {
		t.Errorf("received %s, want the first webhook's time, just after %s", rv.ReceivedAt, friday)
	}
	wantDue := rv.ReceivedAt.AddDate(0, 0, 14)
	if rv.Address != member || rv.Body != unclear || rv.Reason == "" || rv.Channel != "sms" || rv.ProviderID != "SMreview0001" {
		t.Errorf("review = %+v", rv)
	}
	if !rv.DueAt.Equal(wantDue) {
		t.Errorf("received %s due %s, want %s (two Fridays later)", rv.ReceivedAt, rv.DueAt, wantDue)
	}
	if rv.Warn || open.DueSoon != 0 || rv.DecidedAt != nil {
		t.Errorf("a fresh review is flagged: warn %v, due_soon %d, decided %v", rv.Warn, open.DueSoon, rv.DecidedAt)
	}
	if _, ok := suppressionOf(h, member); ok {
		t.Error("a possible opt-out suppressed the number before anyone decided")
	}
	if got := h.reviews("decided"); len(got.Reviews) != 0 {
		t.Errorf("decided reviews = %+v, want none", got.Reviews)
	}
}

// "Opt out" suppresses the number as the member's own revocation (source
// inbound_sms, the text and who confirmed it as evidence) and announces
// it once under the review's key; "not an opt-out" closes the review and
// suppresses nothing; the first decision holds; a member who opted back
// in after the text keeps their later word.
func TestReviewDecisions(t *testing.T) {
	h := newHarness(t, setup{})
	aFriday(h)
	h.start(nil)
	out, notOut, cameBack := phone(811), phone(812), phone(813)
	h.inboundAs("SMreview0011", out, unclear)
	h.inboundAs("SMreview0012", notOut, unclear)
	h.inboundAs("SMreview0013", cameBack, unclear)
	h.clock.Advance(time.Hour)
	h.inboundAs("SMreview0014", cameBack, "START")
	ids := map[string]string{}
	for _, rv := range h.reviews("open").Reviews {
		ids[rv.Address] = rv.ID
	}
	if len(ids) != 3 {
		t.Fatalf("open reviews by number = %v, want 3", ids)
	}

	code, rv := h.decide(ids[out], `{"opt_out": true, "by": "ana@union.org"}`)
	if code != http.StatusOK || rv.Decision != store.DecisionOptOut || rv.DecidedBy != "ana@union.org" || rv.Outcome != "added" {
		t.Fatalf("opt out = %d %+v", code, rv)
	}
	sup, ok := suppressionOf(h, out)
	if !ok {
		t.Fatal("an organizer's opt-out decision did not suppress the number")
	}
	if sup.Source != events.SourceInboundSMS || !strings.Contains(sup.Evidence, unclear) ||
		!strings.Contains(sup.Evidence, "SMreview0011") || !strings.Contains(sup.Evidence, "confirmed by ana@union.org") {
		t.Errorf("suppression = %+v, want the member's source with their text, its id and who confirmed it", sup)
	}
	ev := consentEvent(t, h, "review."+ids[out])
	if ev.Address != out || ev.Change != events.ConsentOptedOut || ev.Source != events.SourceInboundSMS || !strings.Contains(ev.Evidence, "confirmed by ana@union.org") {
		t.Errorf("consent event = %+v", ev)
	}
	h.waitStatus(h.send(out, "Rally tonight"), "suppressed")

	// The first decision holds: the same again is answered as it was,
	// another is a conflict.
	if code, again := h.decide(ids[out], `{"opt_out": true, "by": "bo@union.org"}`); code != http.StatusOK || again.DecidedBy != "ana@union.org" {
		t.Errorf("the same decision again = %d %+v, want the first one", code, again)
	}
	if code, _ := h.decide(ids[out], `{"opt_out": false, "by": "bo@union.org"}`); code != http.StatusConflict {
		t.Errorf("a different decision on a decided review = %d, want 409", code)
	}

	code, rv = h.decide(ids[notOut], `{"opt_out": false, "by": "ana@union.org"}`)
	if code != http.StatusOK || rv.Decision != store.DecisionNotOptOut || rv.Outcome != "" {
		t.Fatalf("not an opt-out = %d %+v", code, rv)
	}
	if _, ok := suppressionOf(h, notOut); ok {
		t.Error("'not an opt-out' suppressed the number")
	}

	code, rv = h.decide(ids[cameBack], `{"opt_out": true, "by": "ana@union.org"}`)
	if code != http.StatusOK || rv.Outcome != "superseded" {
		t.Fatalf("opt out of a member who texted START since = %d %+v, want superseded", code, rv)
	}
	if _, ok := suppressionOf(h, cameBack); ok {
		t.Error("a decision on an older text overrode the member's later START")
	}

	if got := h.reviews("open"); len(got.Reviews) != 0 {
		t.Errorf("open after deciding all = %+v", got.Reviews)
	}
	if got := h.reviews("decided"); len(got.Reviews) != 3 {
		t.Errorf("%d decided, want 3", len(got.Reviews))
	}
	for body, want := range map[string]int{`{"by": "ana@union.org"}`: 400, `{"opt_out": true}`: 400} {
		if code, _ := h.decide(ids[notOut], body); code != want {
			t.Errorf("decision %s = %d, want %d", body, code, want)
		}
	}
	if code, _ := h.decide("00000000-0000-4000-8000-000000000000", `{"opt_out": true, "by": "ana"}`); code != http.StatusNotFound {
		t.Errorf("deciding no review = %d, want 404", code)
	}
}

// Nobody decides: two business days before the deadline the review is
// flagged (and counted as due soon) and still suppresses nothing; a
// minute before the deadline nothing yet; at the deadline the sweeper
// treats it as an opt-out. Received on a Friday, that is two Fridays
// later, on the service's clock.
func TestUndecidedReviewIsAnOptOutAtTheDeadline(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.ReviewSweepEvery = 20 * time.Millisecond }})
	aFriday(h)
	h.start(nil)
	member := phone(821)
	h.inboundAs("SMreview0021", member, unclear)
	// Counted from when delivery received it (the test clock runs on).
	friday := h.reviews("open").Reviews[0].ReceivedAt
	due := friday.AddDate(0, 0, 14)

	h.clock.Set(friday.AddDate(0, 0, 12).Add(-time.Minute)) // Tuesday before: not yet in the window
	if l := h.reviews("open"); l.DueSoon != 0 || l.Reviews[0].Warn {
		t.Errorf("Tuesday: due_soon %d warn %v, want neither", l.DueSoon, l.Reviews[0].Warn)
	}
	if m := h.metrics(); !strings.Contains(m, `delivery_optout_reviews{state="open"} 1`) || !strings.Contains(m, `delivery_optout_reviews{state="due_soon"} 0`) {
		t.Errorf("metrics on Tuesday do not show one open review, none due soon")
	}
	h.clock.Set(friday.AddDate(0, 0, 12)) // Wednesday: two business days left
	if l := h.reviews("open"); l.DueSoon != 1 || !l.Reviews[0].Warn {
		t.Errorf("Wednesday: due_soon %d warn %v, want the review flagged", l.DueSoon, l.Reviews[0].Warn)
	}
	if m := h.metrics(); !strings.Contains(m, `delivery_optout_reviews{state="due_soon"} 1`) {
		t.Errorf("metrics on Wednesday do not show the review due soon")
	}
	h.clock.Set(due.Add(-time.Minute))
	never(t, "a suppression before the deadline", func() bool { _, ok := suppressionOf(h, member); return ok }, 300*time.Millisecond)

	h.clock.Set(due.Add(time.Second))
	var sup store.Suppression
	testkit.Eventually(t, "the suppression at the deadline", func() bool {
		var ok bool
		sup, ok = suppressionOf(h, member)
		return ok
	})
	if sup.Source != events.SourceInboundSMS || !strings.Contains(sup.Evidence, "undecided at the 10-business-day deadline") {
		t.Errorf("suppression = %+v", sup)
	}
	decided := h.reviews("decided").Reviews
	if len(decided) != 1 || decided[0].Decision != store.DecisionDeadline || decided[0].DecidedBy != "deadline" || decided[0].Outcome != "added" {
		t.Fatalf("decided = %+v, want the review decided by the deadline", decided)
	}
	ev := consentEvent(t, h, "review."+decided[0].ID)
	if ev.Change != events.ConsentOptedOut || !ev.At.Equal(friday) {
		t.Errorf("consent event = %+v, want an opt-out dated when the member wrote", ev)
	}
	if code, _ := h.decide(decided[0].ID, `{"opt_out": false, "by": "ana@union.org"}`); code != http.StatusConflict {
		t.Errorf("overruling the deadline = %d, want 409", code)
	}
}
