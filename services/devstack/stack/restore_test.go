package stack_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	consoledb "github.com/musterhq/muster/services/console/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// TestBackupAndRestoreDrill is the restore drill docs/operations.md
// promises, run with the scripts it tells operators to run: a campaign is
// sent and a member texts STOP; deployments/backup/backup.sh backs up
// every database; the databases and JetStream are destroyed; restore.sh
// brings the databases back and the platform starts on them with an empty
// JetStream. The suppression, the consent ledger and the message log are
// whole, and when every send request of the campaign is published again
// (as a replay after a restore would), not one text goes out twice, while
// a new request after them goes out once.
func TestBackupAndRestoreDrill(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: the restore drill needs PostgreSQL's client tools (apt-get install postgresql-client)", tool)
		}
	}
	dbs := map[string]string{
		"contacts": testkit.Database(t, contactsdb.FS), "campaigns": testkit.Database(t, campaignsdb.FS),
		"delivery": testkit.Database(t, deliverydb.FS), "console": testkit.Database(t, consoledb.FS),
	}
	start := func() *stack.Stack {
		t.Helper()
		st, err := stack.Start(context.Background(), stack.Options{
			NATSPort: -1, NATSDir: t.TempDir(),
			ContactsDB: dbs["contacts"], CampaignsDB: dbs["campaigns"], DeliveryDB: dbs["delivery"],
			ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
			AutoCallbacks: true, RedisPrefix: redisPrefix(t), DeliveryOptions: delivery.Options{Clock: middayClock(t)},
			Callers: svcauthtest.Trusted(), Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	// Before: three members texted, one of them then texts STOP.
	st := start()
	phones := []string{"+12125550301", "+12125550302", "+12125550303"}
	ids := map[string]string{}
	for _, p := range phones {
		var c struct {
			ID string `json:"id"`
		}
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "Member", "phone": p, "tags": []string{"drill"}}, &c); code != 201 {
			t.Fatalf("creating %s = %d", p, code)
		}
		ids[p] = c.ID
	}
	var camp struct {
		ID string `json:"id"`
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns", map[string]any{
		"name": "Drill", "channel": "sms", "audience": map[string]string{"tag": "drill"},
		"body": "Local 1199: meeting Thursday. Reply STOP to opt out.",
	}, &camp); code != 201 {
		t.Fatalf("creating the campaign = %d", code)
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+camp.ID+"/launch", nil, nil); code != 202 {
		t.Fatalf("launching = %d", code)
	}
	testkit.Eventually(t, "three texts delivered", func() bool {
		n := 0
		for _, m := range messageLog(t, st, camp.ID) {
			if m.Status == "delivered" {
				n++
			}
		}
		return n == 3
	})
	stopper := phones[0]
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: stopper, To: "+15550001111", Body: "STOP"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the STOP in the consent ledger", func() bool { return optedOut(t, st, ids[stopper]) })
	before := messageLog(t, st, camp.ID)
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}

	// Back up, destroy, restore: the documented scripts, the real tools.
	dir := t.TempDir()
	script(t, "backup.sh", dir, dbs)
	ctx := context.Background()
	for _, dsn := range dbs {
		if err := testkit.DropDatabase(ctx, testkit.AdminURL(), dsn); err != nil {
			t.Fatal(err)
		}
		createEmpty(t, dsn)
	}
	script(t, "restore.sh", dir, dbs)

	// After: a new JetStream, the restored databases.
	st = start()
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	var sups struct {
		Suppressions []struct{ Address string } `json:"suppressions"`
	}
	if code := call(t, "delivery", "GET", st.DeliveryURL+"/suppressions", nil, &sups); code != 200 || len(sups.Suppressions) != 1 || sups.Suppressions[0].Address != stopper {
		t.Errorf("suppressions after the restore = %d %+v, want %s alone", code, sups.Suppressions, stopper)
	}
	if !optedOut(t, st, ids[stopper]) {
		t.Error("the consent ledger lost the STOP")
	}
	after := messageLog(t, st, camp.ID)
	if len(after) != len(before) {
		t.Fatalf("the message log has %d messages after the restore, %d before", len(after), len(before))
	}

	// The send requests again, as JetStream would replay them: the log
	// knows each is done, so nothing goes out.
	opts, err := st.NATSOptions(natsauth.Campaigns)
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := stream.Connect(st.NATSURL, "drill", zaptest.NewLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var full struct {
		Messages []struct {
			IdempotencyKey string `json:"idempotency_key"`
			CampaignID     string `json:"campaign_id"`
			Step           int    `json:"step"`
			ContactID      string `json:"contact_id"`
			To             string `json:"to"`
			Body           string `json:"body"`
		} `json:"messages"`
	}
	if code := call(t, "delivery", "GET", st.DeliveryURL+"/messages?"+url.Values{"campaign_id": {camp.ID}}.Encode(), nil, &full); code != 200 || len(full.Messages) != 3 {
		t.Fatalf("message log = %d with %d messages", code, len(full.Messages))
	}
	for _, m := range full.Messages {
		req := events.SendRequested{
			Meta:           events.NewMeta(events.TypeSendRequested, events.VersionSendRequested, "drill", time.Now()),
			IdempotencyKey: m.IdempotencyKey, CampaignID: m.CampaignID, Step: m.Step, ContactID: m.ContactID,
			Channel: events.ChannelSMS, To: m.To, Body: m.Body,
		}
		if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "replay-"+m.IdempotencyKey, req); err != nil {
			t.Fatal(err)
		}
	}
	// Then one new request: once it has gone, delivery has taken the
	// replayed ones before it, and the simulator holds that one text only.
	fresh := full.Messages[0]
	for _, m := range full.Messages {
		if m.To != stopper {
			fresh = m // a member who has not opted out
		}
	}
	req := events.SendRequested{
		Meta:           events.NewMeta(events.TypeSendRequested, events.VersionSendRequested, "drill", time.Now()),
		IdempotencyKey: "drill-after-restore", CampaignID: fresh.CampaignID, Step: fresh.Step, ContactID: fresh.ContactID,
		Channel: events.ChannelSMS, To: fresh.To, Body: "Local 1199: after the restore.",
		Urgent: true, // past the daily cap the campaign's text used up
	}
	if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), "drill-after-restore", req); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the new text after the restore", func() bool { return len(st.Sim.Outbox()) > 0 })
	time.Sleep(500 * time.Millisecond) // room for a stray resend to show up
	if out := st.Sim.Outbox(); len(out) != 1 || out[0].Body != req.Body {
		t.Errorf("the simulator received %+v after the restore, want only the new text", out)
	}
	now := map[string]string{}
	for _, m := range messageLog(t, st, camp.ID) {
		now[m.Key] = m.Status
	}
	for _, m := range before {
		if now[m.Key] != m.Status {
			t.Errorf("message to %s is %q after the replay, was %s", m.To, now[m.Key], m.Status)
		}
	}
}

// script runs one of deployments/backup's scripts with the databases'
// URLs in the environment, as an operator would.
func script(t *testing.T, name, dir string, dbs map[string]string) {
	t.Helper()
	cmd := exec.Command("bash", "../../../deployments/backup/"+name, dir)
	cmd.Env = os.Environ()
	for svc, dsn := range dbs {
		cmd.Env = append(cmd.Env, strings.ToUpper(svc)+"_DATABASE_URL="+dsn)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	t.Logf("%s:\n%s", name, out)
}

// createEmpty creates the database dsn names, empty, as an operator does
// before restoring into it.
func createEmpty(t *testing.T, dsn string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testkit.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()); err != nil {
		t.Fatal(err)
	}
}

// optedOut reports whether the contact's consent ledger holds an SMS
// opt-out.
func optedOut(t *testing.T, st *stack.Stack, contactID string) bool {
	t.Helper()
	var ledger struct {
		History []struct {
			Channel string `json:"channel"`
			Change  string `json:"change"`
		} `json:"history"`
	}
	if code := call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+contactID+"/consent", nil, &ledger); code != 200 {
		t.Fatalf("consent ledger = %d", code)
	}
	for _, e := range ledger.History {
		if e.Channel == "sms" && e.Change == events.ConsentOptedOut {
			return true
		}
	}
	return false
}
