package stack_test

import (
	"fmt"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
)

// TestMetricsMatchTheMessageLog runs a text campaign and an email
// campaign with failures injected by the simulator (a carrier that cannot
// deliver, an invalid number, a member who opted out at the carrier, an
// address SendGrid refuses) and checks that delivery's metrics count what
// its message log holds: messages per channel and final status, and
// failures per status and error code.
func TestMetricsMatchTheMessageLog(t *testing.T) {
	st := startStack(t, true)
	phones := []string{"+12125550201", "+12125550202", "+12125550203", "+12125550204", "+12125550205", "+12125550206"}
	emails := []string{"a@local1199.org", "b@local1199.org", "c@local1199.org", "d@local1199.org"}
	for i, p := range phones {
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts",
			map[string]any{"first_name": fmt.Sprintf("Member%d", i), "phone": p, "tags": []string{"texts"}}, nil); code != 201 {
			t.Fatalf("creating %s = %d", p, code)
		}
	}
	for i, e := range emails {
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts",
			map[string]any{"first_name": fmt.Sprintf("Reader%d", i), "email": e, "tags": []string{"mail"}}, nil); code != 201 {
			t.Fatalf("creating %s = %d", e, code)
		}
	}
	st.Sim.SetFaults([]sim.Fault{
		{To: phones[0], Kind: sim.FaultUndelivered},
		{To: phones[1], Kind: sim.FaultInvalidNumber},
		{To: phones[2], Kind: sim.FaultUnsubscribed},
	})
	st.Sim.SetEmailFaults([]sim.Fault{{To: emails[0], Kind: sim.FaultInvalidEmail}})

	var ids []string
	for _, c := range []map[string]any{
		{"name": "Rally", "channel": "sms", "audience": map[string]string{"tag": "texts"},
			"body": "Local 1199: rally at 5, {{first_name}}. Reply STOP to opt out."},
		{"name": "Vote", "channel": "email", "audience": map[string]string{"tag": "mail"},
			"email": map[string]string{"subject": "Vote Thursday, {{first_name}}", "text": "Hi {{first_name}}, vote at the hall."}},
	} {
		var created struct {
			ID string `json:"id"`
		}
		if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns", c, &created); code != 201 {
			t.Fatalf("creating %s = %d", c["name"], code)
		}
		if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+created.ID+"/launch", nil, nil); code != 202 {
			t.Fatalf("launching %s = %d", c["name"], code)
		}
		ids = append(ids, created.ID)
	}

	// The log, once every message has reached its final status.
	var logged []loggedMessage
	testkit.Eventually(t, "every message final in the log", func() bool {
		logged = logged[:0]
		for _, id := range ids {
			logged = append(logged, messageLog(t, st, id)...)
		}
		if len(logged) != len(phones)+len(emails) {
			return false
		}
		for _, m := range logged {
			if !finalStatus[m.Status] {
				return false
			}
		}
		return true
	})
	want := map[string]int{}
	for _, m := range logged {
		provider := map[string]string{"sms": "twilio", "email": "sendgrid"}[m.Channel]
		want[fmt.Sprintf(`delivery_messages_total{channel=%q,provider=%q,status=%q}`, m.Channel, provider, m.Status)]++
		if m.Status != "delivered" {
			code := m.ErrorCode
			if code == "" {
				code = "none"
			}
			want[fmt.Sprintf(`delivery_message_failures_total{channel=%q,error_code=%q,provider=%q,status=%q}`, m.Channel, code, provider, m.Status)]++
		}
	}
	// The faults must have made the failures this test is about.
	for series, n := range map[string]int{
		`delivery_message_failures_total{channel="sms",error_code="30006",provider="twilio",status="undelivered"}`: 1,
		`delivery_message_failures_total{channel="sms",error_code="21211",provider="twilio",status="failed"}`:      1,
		`delivery_message_failures_total{channel="sms",error_code="21610",provider="twilio",status="suppressed"}`:  1,
		`delivery_messages_total{channel="sms",provider="twilio",status="delivered"}`:                              3,
		`delivery_messages_total{channel="email",provider="sendgrid",status="failed"}`:                             1,
		`delivery_messages_total{channel="email",provider="sendgrid",status="delivered"}`:                          3,
	} {
		if want[series] != n {
			t.Errorf("the log has %d messages for %s, want %d (log: %+v)", want[series], series, n, logged)
		}
	}

	// The metrics, read until they agree (a counter moves a moment after
	// the log row is written) or the wait runs out.
	var got map[string]int
	var diff []string
	for range 40 {
		got = deliveryCounters(t, st, "delivery_messages_total", "delivery_message_failures_total")
		diff = compareCounts(want, got)
		if len(diff) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, d := range diff {
		t.Error(d)
	}
}

// finalStatus are the statuses a message ends in.
var finalStatus = map[string]bool{"delivered": true, "undelivered": true, "failed": true, "suppressed": true, "expired": true, "cancelled": true}

type loggedMessage struct {
	Key       string `json:"idempotency_key"`
	Channel   string `json:"channel"`
	To        string `json:"to"`
	Status    string `json:"status"`
	ErrorCode string `json:"error_code"`
}

// messageLog reads a campaign's whole message log from delivery.
func messageLog(t *testing.T, st *stack.Stack, campaignID string) []loggedMessage {
	t.Helper()
	var all []loggedMessage
	after := ""
	for {
		var page struct {
			Messages []loggedMessage `json:"messages"`
			Next     string          `json:"next"`
		}
		q := url.Values{"campaign_id": {campaignID}, "limit": {"100"}, "after": {after}}
		if code := call(t, "delivery", "GET", st.DeliveryURL+"/messages?"+q.Encode(), nil, &page); code != 200 {
			t.Fatalf("message log = %d", code)
		}
		all = append(all, page.Messages...)
		if page.Next == "" {
			return all
		}
		after = page.Next
	}
}

var sample = regexp.MustCompile(`^(\w+\{[^}]*\}) ([0-9.e+]+)$`)

// deliveryCounters scrapes delivery's metrics and returns the samples of
// the named families, keyed by series.
func deliveryCounters(t *testing.T, st *stack.Stack, families ...string) map[string]int {
	t.Helper()
	return counters(t, "delivery", st.DeliveryURL, families...)
}

// counters scrapes a service's metrics (as a trusted caller) and returns
// the samples of the named families, keyed by series.
func counters(t *testing.T, service, base string, families ...string) map[string]int {
	t.Helper()
	resp, err := svcauthtest.Client(service).Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s's metrics = %d %s", service, resp.StatusCode, body)
	}
	out := map[string]int{}
	for line := range strings.Lines(string(body)) {
		m := sample.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		for _, f := range families {
			if strings.HasPrefix(m[1], f+"{") {
				v, _ := strconv.ParseFloat(m[2], 64)
				out[m[1]] = int(v)
			}
		}
	}
	return out
}

// An operator sees sign-ins and lockouts, import rows and fan-out progress
// in the metrics, counted as they happen.
func TestOperatorsSeeSignInsImportsAndFanOut(t *testing.T) {
	st := startConsoleStack(t, withAdminToken)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, tok := page(t, c, st.ConsoleURL+"/signin")
	if code, _ := postForm(t, c, st.ConsoleURL+"/signin", url.Values{"csrf": {tok}, "email": {consoleAdmin}, "password": {"not the password"}}); code != http.StatusUnauthorized {
		t.Fatalf("a wrong password = %d", code)
	}
	signedIn(t, st)
	signIns := counters(t, "console", st.ConsoleURL, "console_signins_total")
	if signIns[`console_signins_total{outcome="failed"}`] != 1 || signIns[`console_signins_total{outcome="ok"}`] != 1 {
		t.Fatalf("sign-ins counted %v, want one failed and one ok", signIns)
	}

	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	var imp struct{ ID, State string }
	csv := "first_name,phone,tags\nDee,212-555-0144,nurses\nEd,not a phone,nurses\nFay,212-555-0145,nurses\n"
	if code, raw := api.do("POST", "/api/imports?source=members.csv", "text/csv", csv, &imp); code != 202 {
		t.Fatalf("starting an import = %d %s", code, raw)
	}
	testkit.Eventually(t, "the import to finish", func() bool {
		api.json("GET", "/api/imports/"+imp.ID, nil, &imp)
		return imp.State == "done"
	})
	rows := counters(t, "contacts", st.ContactsURL, "contacts_import_rows_total")
	if rows[`contacts_import_rows_total{outcome="new"}`] != 2 || rows[`contacts_import_rows_total{outcome="rejected"}`] != 1 {
		t.Fatalf("import rows counted %v, want 2 new and 1 rejected", rows)
	}

	var created struct{ ID string }
	if code, raw := api.json("POST", "/api/campaigns", map[string]any{"name": "Nurses", "kind": "alert", "channel": "sms",
		"body": "Local 1199: nurses meet Thursday. Reply STOP to opt out.", "audience": map[string]string{"tag": "nurses"}}, &created); code != 201 {
		t.Fatalf("creating = %d %s", code, raw)
	}
	if code, raw := api.json("POST", "/api/campaigns/"+created.ID+"/launch", map[string]any{}, nil); code != 202 && code != 200 {
		t.Fatalf("launching = %d %s", code, raw)
	}
	testkit.Eventually(t, "the fan-out to be counted", func() bool {
		done := counters(t, "campaigns", st.CampaignsURL, "campaigns_fanouts_completed_total")
		return done[`campaigns_fanouts_completed_total{channel="sms"}`] == 1
	})
	if got := counters(t, "campaigns", st.CampaignsURL, "campaigns_fanout_members_total"); got[`campaigns_fanout_members_total{channel="sms"}`] != 2 {
		t.Fatalf("fan-out members counted %v, want the 2 nurses", got)
	}
}

// compareCounts lists every series where the metrics and the log differ,
// for final statuses (the metrics also count steps on the way, such as
// accepted and sent, which the log no longer shows).
func compareCounts(want, got map[string]int) []string {
	var diff []string
	for k, v := range want {
		if got[k] != v {
			diff = append(diff, fmt.Sprintf("%s = %d in the metrics, %d in the log", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && v != 0 && countsFinal(k) {
			diff = append(diff, fmt.Sprintf("%s = %d in the metrics, none in the log", k, v))
		}
	}
	sort.Strings(diff)
	return diff
}

func countsFinal(series string) bool {
	for s := range finalStatus {
		if strings.Contains(series, `status="`+s+`"`) {
			return true
		}
	}
	return false
}
