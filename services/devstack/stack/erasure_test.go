package stack_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// TestEraseAMember is issue 19's erasure, through every real part: a
// member is texted by a campaign, replies, has an organizer note an
// opt-out of their email with their name in the reason, and texts STOP;
// an admin erases them from the console (a wrong confirmation erases
// nothing). Then every text column of every table of all four databases
// is searched for their number, email and name, and nothing is found:
// what is left is the opt-out on the keyed hash, in contacts' ledger and
// delivery's suppression list. The same number imported again from a CSV
// is opted out in contacts, a campaign to its tag sends it nothing, and a
// send request straight to delivery is suppressed.
func TestEraseAMember(t *testing.T) {
	var dbs stack.Options
	st := startConsoleStack(t, withAdminToken, func(o *stack.Options) { dbs = *o })
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	const phone, email, first, last = "+12125550177", "marisol.q@local1199.org", "Marisol", "Quintanilla"
	needles := []string{phone, strings.TrimPrefix(phone, "+"), email, first, last}
	var member struct{ ID string }
	if code, raw := api.json("POST", "/api/contacts", map[string]any{"first_name": first, "last_name": last, "phone": phone, "email": email,
		"tags": []string{"erase-drill"}}, &member); code != 201 {
		t.Fatalf("create contact = %d %s", code, raw)
	}
	var other struct{ ID string }
	if code, raw := api.json("POST", "/api/contacts", map[string]any{"first_name": "Dee", "phone": "+12125550178", "tags": []string{"erase-drill"}}, &other); code != 201 {
		t.Fatalf("create contact = %d %s", code, raw)
	}
	launch := func(name string) string {
		t.Helper()
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/campaigns", map[string]any{"name": name, "kind": "alert", "channel": "sms",
			"body": "Local 1199: meeting Thursday, {{first_name}}. Reply STOP to opt out.", "audience": map[string]string{"tag": "erase-drill"}}, &c); code != 201 {
			t.Fatalf("create campaign = %d %s", code, raw)
		}
		if code, raw := api.json("POST", "/api/campaigns/"+c.ID+"/launch", map[string]any{}, nil); code != http.StatusAccepted {
			t.Fatalf("launch = %d %s", code, raw)
		}
		return c.ID
	}
	first1 := launch("Before the erasure")
	testkit.Eventually(t, "both texts delivered", func() bool {
		n := 0
		for _, m := range messageLog(t, st, first1) {
			if m.Status == "delivered" {
				n++
			}
		}
		return n == 2
	})
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phone, To: "+15550001111", Body: "Can I bring my kids? - " + first}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	testkit.Eventually(t, "the reply in campaigns' inbox", func() bool {
		hits, err := testkit.FindText(ctx, dbs.CampaignsDB, "bring my kids")
		return err == nil && len(hits) > 0
	})
	if code, raw := api.json("POST", "/api/contacts/"+member.ID+"/opt-out", map[string]any{"channel": "email",
		"reason": "asked by " + first + " " + last + " at the meeting"}, nil); code != 200 {
		t.Fatalf("email opt-out = %d %s", code, raw)
	}
	if _, err := st.Sim.SendReply(ctx, sim.Reply{From: phone, To: "+15550001111", Body: "STOP"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the STOP in the consent ledger", func() bool { return optedOut(t, st, member.ID) })
	all := map[string]string{"contacts": dbs.ContactsDB, "campaigns": dbs.CampaignsDB, "delivery": dbs.DeliveryDB, "console": dbs.ConsoleDB}
	for name, dsn := range all {
		hits, err := testkit.FindText(ctx, dsn, needles...)
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) == 0 && name != "campaigns" {
			// campaigns keeps the reply (above) but not necessarily a name
			t.Fatalf("before the erasure %s holds nothing of the member: the search cannot find anything", name)
		}
	}

	// The admin erases them; a wrong confirmation first erases nothing.
	c := signedIn(t, st)
	body, tok := page(t, c, st.ConsoleURL+"/contacts/"+member.ID)
	if !strings.Contains(body, `id="erase-form"`) || !strings.Contains(body, first+" "+last) {
		t.Fatalf("the member page has no erase form for the admin:\n%.500s", body)
	}
	if code, body := postForm(t, c, st.ConsoleURL+"/contacts/"+member.ID+"/erase", url.Values{"csrf": {tok}, "confirm": {first}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "nothing was erased") {
		t.Fatalf("erase with a wrong confirmation = %d %.300s", code, body)
	}
	if code := call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+member.ID, nil, nil); code != 200 {
		t.Fatalf("a wrong confirmation erased the member (%d)", code)
	}
	if code, body := postForm(t, c, st.ConsoleURL+"/contacts/"+member.ID+"/erase", url.Values{"confirm": {first + " " + last}}); code != http.StatusForbidden {
		t.Fatalf("erase without the CSRF token = %d %.300s", code, body)
	}
	if code, body := postForm(t, c, st.ConsoleURL+"/contacts/"+member.ID+"/erase", url.Values{"csrf": {tok}, "confirm": {strings.ToLower(first + "  " + last)}}); code != 200 {
		t.Fatalf("erase = %d %.300s", code, body)
	}
	if code := call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+member.ID, nil, nil); code != 404 {
		t.Fatalf("the erased member still answers %d", code)
	}

	// Nothing of them in any column of any table of any database, once
	// campaigns and delivery have taken the event.
	var left []string
	deadline := time.Now().Add(20 * time.Second)
	for {
		left = nil
		for name, dsn := range all {
			hits, err := testkit.FindText(ctx, dsn, needles...)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hits {
				left = append(left, name+": "+h)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("after the erasure the databases still hold: %v", left)
	}
	// What is left is the opt-outs on the keyed hash, and who erased.
	hashed := func(dsn, q string) int {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, q, erasure.Prefix+"%").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := hashed(dbs.ContactsDB, `SELECT count(*) FROM consent_ledger WHERE address LIKE $1 AND source = 'inbound_sms' AND change = 'opted_out'`); n != 1 {
		t.Errorf("contacts' ledger keeps %d STOPs on a hash, want 1", n)
	}
	if n := hashed(dbs.DeliveryDB, `SELECT count(*) FROM suppressions WHERE address LIKE $1 AND channel = 'sms'`); n != 1 {
		t.Errorf("delivery keeps %d suppressions of the number on a hash, want 1", n)
	}
	audit, _ := page(t, c, st.ConsoleURL+"/admin/audit")
	if !strings.Contains(audit, "contact.erase") || !strings.Contains(audit, "[erased]") {
		t.Errorf("the audit log does not show the erasure, or the note about the member:\n%.2000s", audit)
	}

	// Imported again: opted out in contacts, texted nothing.
	var imp struct{ ID, State string }
	csv := "first_name,phone,tags\n" + first + "," + phone + ",erase-drill\n"
	if code, raw := api.do("POST", "/api/imports?source=again.csv", "text/csv", csv, &imp); code != http.StatusAccepted {
		t.Fatalf("import = %d %s", code, raw)
	}
	testkit.Eventually(t, "the import to finish", func() bool {
		api.json("GET", "/api/imports/"+imp.ID, nil, &imp)
		return imp.State == "done"
	})
	var list struct {
		Contacts []struct {
			ID    string `json:"id"`
			Phone string `json:"phone"`
		} `json:"contacts"`
	}
	if code, raw := api.json("GET", "/api/contacts?tag=erase-drill", nil, &list); code != 200 {
		t.Fatalf("list = %d %s", code, raw)
	}
	back := ""
	for _, x := range list.Contacts {
		if x.Phone == phone {
			back = x.ID
		}
	}
	if back == "" || back == member.ID {
		t.Fatalf("the re-imported member is not listed as a new contact: %+v", list.Contacts)
	}
	var cons struct {
		Current []struct{ Channel, Status, Source string } `json:"current"`
	}
	if code := call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+back+"/consent", nil, &cons); code != 200 ||
		len(cons.Current) == 0 || cons.Current[0].Status != "opted_out" {
		t.Fatalf("the re-imported number's consent = %+v", cons)
	}
	before := len(outboxTo(st.Sim, phone, "outbound-api"))
	second := launch("After the erasure")
	testkit.Eventually(t, "the second campaign to reach the other member", func() bool { return len(outboxTo(st.Sim, "+12125550178", "outbound-api")) == 2 })
	for _, m := range messageLog(t, st, second) {
		if m.To == phone && m.Status != "suppressed" {
			t.Errorf("the second campaign's text to the re-imported number is %s", m.Status)
		}
	}
	// Delivery refuses on its own too: a send request straight to it.
	opts, err := st.NATSOptions(natsauth.Campaigns)
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := stream.Connect(st.NATSURL, "erasure-test", zaptest.NewLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := events.SendRequested{
		Meta:           events.NewMeta(events.TypeSendRequested, events.VersionSendRequested, "erasure", time.Now()),
		IdempotencyKey: "erasure-direct", CampaignID: second, ContactID: back, Channel: events.ChannelSMS, To: phone,
		Body: "Local 1199: straight to delivery.", Urgent: true,
	}
	if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "erasure-direct", req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "delivery to record the direct request", func() bool {
		status := ""
		for _, x := range messageLog(t, st, second) {
			if x.Key == "erasure-direct" {
				status = x.Status
			}
		}
		if status != "" && status != "suppressed" {
			t.Fatalf("the direct request to the erased number is %s", status)
		}
		return status == "suppressed"
	})
	if after := len(outboxTo(st.Sim, phone, "outbound-api")); after != before {
		t.Fatalf("the erased number was texted %d more times after its erasure", after-before)
	}
}
