package stack_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	consoledb "github.com/musterhq/muster/services/console/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/muster/operator"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// TestOperatorCLI drives `muster` against the whole platform, as an
// operator of make run would: every service's version with the operator's
// key, a send request delivery cannot read dead-lettered, listed,
// inspected, retried (it comes back on delivery.retry.sms, where delivery
// reads it again) and discarded, and the consumers' lag.
func TestOperatorCLI(t *testing.T) {
	seed, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	st, err := stack.Start(context.Background(), stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB: testkit.Database(t, deliverydb.FS), ConsoleDB: testkit.Database(t, consoledb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		ConsoleAddr: "127.0.0.1:0", ConsoleAdminEmail: consoleAdmin, ConsoleAdminPassword: consolePassword,
		RedisPrefix: redisPrefix(t), DeliveryOptions: app.Options{Clock: middayClock(t)},
		Callers: svcauthtest.Trusted() + ",operator=" + public, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	dir := t.TempDir()
	for name, content := range map[string]string{"operator.key": seed, "nats-admin.nk": st.NATSSeeds[natsauth.Admin]} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("MUSTER_OPERATOR_SERVICE_KEY_FILE", filepath.Join(dir, "operator.key"))
	t.Setenv("MUSTER_OPERATOR_NATS_SEED_FILE", filepath.Join(dir, "nats-admin.nk"))
	t.Setenv("MUSTER_OPERATOR_NATS_URL", st.NATSURL)
	t.Setenv("MUSTER_OPERATOR_CONTACTS_URL", st.ContactsURL)
	t.Setenv("MUSTER_OPERATOR_CAMPAIGNS_URL", st.CampaignsURL)
	t.Setenv("MUSTER_OPERATOR_DELIVERY_URL", st.DeliveryURL)
	t.Setenv("MUSTER_OPERATOR_CONSOLE_URL", st.ConsoleURL)
	muster := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var out bytes.Buffer
		err := operator.Run(ctx, args, &out)
		return out.String(), err
	}

	out, err := muster("version")
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("version = %q", out)
	}
	for i, name := range []string{"muster", "contacts", "campaigns", "delivery", "console"} {
		if !strings.HasPrefix(lines[i], name+" ") || !strings.Contains(lines[i], "(commit ") {
			t.Errorf("version line %d = %q, want %s's build", i, lines[i], name)
		}
	}

	// A send request delivery cannot read: delivery-send gives up on it.
	nc, js, err := stream.Connect(st.NATSURL, "test", zap.NewNop(), mustOptions(t, st, natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := js.Publish(t.Context(), events.SendSubject(events.ChannelSMS), []byte("not a send request"), jetstream.WithMsgID("cli-bad-1")); err != nil {
		t.Fatal(err)
	}
	var list string
	testkit.Eventually(t, "the dead letter", func() bool {
		list, err = muster("dead-letters", "list", "--consumer", "delivery-send")
		return err == nil && strings.Contains(list, "subject=delivery.send.sms")
	})
	id := strings.Fields(list)[0]
	out, err = muster("dead-letters", "inspect", id)
	if err != nil || !strings.Contains(out, "data: not a send request") || !strings.Contains(out, "consumer: delivery-send") {
		t.Errorf("inspect = %q, %v", out, err)
	}
	out, err = muster("dead-letters", "retry", id)
	if err != nil || out != "retried "+id+" on delivery.retry.sms\n" {
		t.Fatalf("retry = %q, %v", out, err)
	}
	// Delivery read it again, from the retry subject, and gave up again:
	// a new dead letter, and the old one gone.
	testkit.Eventually(t, "the retried message's dead letter", func() bool {
		list, err = muster("dead-letters", "list", "--consumer", "delivery-send")
		return err == nil && strings.Contains(list, "subject=delivery.retry.sms")
	})
	if strings.Contains(list, "subject=delivery.send.sms") || strings.Count(list, "\n") != 1 {
		t.Errorf("list after retry = %q", list)
	}
	id = strings.Fields(list)[0]
	out, err = muster("dead-letters", "discard", id)
	if err != nil || !strings.Contains(out, "discarded "+id) {
		t.Errorf("discard = %q, %v", out, err)
	}
	if out, _ := muster("dead-letters", "list", "--consumer", "delivery-send"); out != "no dead letters\n" {
		t.Errorf("list after discard = %q", out)
	}

	// erase: a member is gone from contacts, and erasing again says so.
	var member struct{ ID string }
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "Erin", "phone": "+12125550199"}, &member); code != 201 {
		t.Fatalf("create contact = %d", code)
	}
	out, err = muster("erase", member.ID)
	if err != nil || !strings.HasPrefix(out, "erased "+member.ID+" (by operator, ") {
		t.Fatalf("erase = %q, %v", out, err)
	}
	if code := call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+member.ID, nil, nil); code != 404 {
		t.Errorf("the erased contact answers %d", code)
	}
	if out, err = muster("erase", member.ID); err != nil || !strings.HasPrefix(out, "already erased "+member.ID) {
		t.Errorf("erase again = %q, %v", out, err)
	}
	if _, err = muster("erase", "00000000-0000-4000-8000-000000000000"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("erasing an unknown contact = %v, want contacts' 404", err)
	}

	// purge-now: every service with an operator purge answers with its
	// counts; the console has none to run.
	out, err = muster("purge-now")
	if err != nil {
		t.Fatalf("purge-now: %v\n%s", err, out)
	}
	for _, want := range []string{"contacts import_files=0 import_reports=0 imports=0", "campaigns inbox_answers=0 inbox_items=0 reply_bodies=0",
		"delivery dead_letters="} {
		if !strings.Contains(out, want) {
			t.Errorf("purge-now does not say %q:\n%s", want, out)
		}
	}
	if out, err = muster("purge-now", "delivery"); err != nil || strings.Contains(out, "contacts") || !strings.HasPrefix(out, "delivery ") {
		t.Errorf("purge-now delivery = %q, %v", out, err)
	}
	if _, err = muster("purge-now", "console"); err == nil {
		t.Error("purge-now console did not fail")
	}

	// replay: a status event on MESSAGES is published again, with a new
	// message id, and campaigns takes it without complaint; CONSENT is
	// refused with the reason.
	status := events.StatusesChanged{Meta: events.NewMeta(events.TypeStatusesChanged, events.VersionStatuses, "cli", time.Now()),
		Changes: []events.StatusChange{{MessageID: "m1", CampaignID: "not-a-campaign", Status: "delivered"}}}
	if err := stream.Publish(t.Context(), js, events.SubjectStatuses, status.ID, status); err != nil {
		t.Fatal(err)
	}
	ms, err := js.Stream(t.Context(), events.StreamMessages)
	if err != nil {
		t.Fatal(err)
	}
	last := ms.CachedInfo().State.LastSeq
	out, err = muster("replay", events.StreamMessages, "--from", strconv.FormatUint(last, 10), "--to", strconv.FormatUint(last, 10))
	if err != nil || !strings.HasPrefix(out, "replayed 1 messages of MESSAGES") || !strings.Contains(out, "safe because") {
		t.Fatalf("replay = %q, %v", out, err)
	}
	info, err := ms.Info(t.Context())
	if err != nil || info.State.LastSeq != last+1 {
		t.Fatalf("MESSAGES after the replay: %+v (%v), want one more message", info, err)
	}
	replayed, err := ms.GetMsg(t.Context(), last+1)
	if err != nil || replayed.Subject != events.SubjectStatuses || string(replayed.Data) == "" {
		t.Fatalf("the replayed message: %+v (%v)", replayed, err)
	}
	if _, err = muster("replay", events.StreamConsent, "--from", "1", "--to", "1"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("replay of CONSENT = %v, want a refusal", err)
	}

	out, err = muster("lag")
	if err != nil {
		t.Fatalf("lag: %v", err)
	}
	for _, want := range []string{"SEND delivery-send pending=", "MESSAGES campaigns-results pending=", "DEADLETTER delivery-dead-letters pending="} {
		if !strings.Contains(out, want) {
			t.Errorf("lag does not list %q:\n%s", want, out)
		}
	}
}

// TestOperatorCLICheckFindsAServiceDown: the console's service URLs that answer pass,
// the one that does not is named.
func TestOperatorCLICheckFindsAServiceDown(t *testing.T) {
	st := startStack(t, false)
	env := "CONSOLE_CONTACTS_URL=" + st.ContactsURL + "\nCONSOLE_CAMPAIGNS_URL=" + st.CampaignsURL +
		"\nCONSOLE_DELIVERY_URL=http://127.0.0.1:1\n"
	file := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(file, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := operator.Run(t.Context(), []string{"check", "--env", file}, &out)
	if err == nil || !strings.Contains(out.String(), "console: CONSOLE_DELIVERY_URL does not answer") {
		t.Errorf("check = %q, %v", out.String(), err)
	}
	if strings.Contains(out.String(), "CONSOLE_CONTACTS_URL") || strings.Contains(out.String(), "CONSOLE_CAMPAIGNS_URL") {
		t.Errorf("check says a service that answers does not:\n%s", out.String())
	}
}

func mustOptions(t *testing.T, st *stack.Stack, user string) []nats.Option {
	t.Helper()
	opts, err := st.NATSOptions(user)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}
