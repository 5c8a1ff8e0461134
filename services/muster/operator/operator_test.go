package operator

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/buildinfo"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/testkit"
)

// run runs the CLI with args and returns what it printed.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := Run(ctx, args, &out)
	return out.String(), err
}

// adminJetStream starts NATS, points the CLI at it as admin and returns
// an admin connection with Muster's streams declared.
func adminJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	n := testkit.StartNATS(t)
	t.Setenv("MUSTER_OPERATOR_NATS_URL", n.URL())
	t.Setenv("MUSTER_OPERATOR_NATS_SEED", n.Seed(natsauth.Admin))
	nc, js, err := stream.Connect(n.URL(), "test", zap.NewNop(), n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := stream.EnsureStreams(context.Background(), js, stream.Topology{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	return js
}

// TestDeadLetters makes a dead letter the way a service does (a consumer
// that cannot read a message), then lists, inspects, retries and
// discards it through the CLI.
func TestDeadLetters(t *testing.T) {
	js := adminJetStream(t)
	ctx := t.Context()
	var mu sync.Mutex
	broken := true
	var handled []string
	running, err := stream.Run(ctx, js, stream.Consumer{Stream: events.StreamConsent, Durable: "test-consent", Subjects: []string{events.SubjectConsentChanged}},
		func(_ context.Context, m stream.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return stream.Permanent(errUnreadable)
			}
			handled = append(handled, string(m.Data))
			return nil
		}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { running.Stop(context.Background()) })

	if _, err := js.Publish(ctx, events.SubjectConsentChanged, []byte("not json"), jetstream.WithMsgID("bad-1")); err != nil {
		t.Fatal(err)
	}
	var list string
	testkit.Eventually(t, "the dead letter", func() bool {
		list, err = run(t, "dead-letters", "list")
		return err == nil && strings.Contains(list, "test-consent")
	})
	fields := strings.Fields(list)
	id := fields[0]
	if !strings.Contains(list, "subject=consent.changed") || !strings.Contains(list, `error="unreadable"`) {
		t.Errorf("list = %q", list)
	}
	if out, err := run(t, "dead-letters", "list", "--consumer", "delivery-send"); err != nil || out != "no dead letters\n" {
		t.Errorf("list of another consumer = %q, %v", out, err)
	}
	out, err := run(t, "dead-letters", "inspect", id)
	if err != nil || !strings.Contains(out, "data: not json") || !strings.Contains(out, "consumer: test-consent") {
		t.Errorf("inspect = %q, %v", out, err)
	}
	if _, err := run(t, "dead-letters", "inspect", "999"); err == nil || !strings.Contains(err.Error(), "no dead letter 999") {
		t.Errorf("inspect of a missing id: %v", err)
	}

	// The cause is fixed; a retry hands the message to the consumer again
	// and removes the dead letter.
	mu.Lock()
	broken = false
	mu.Unlock()
	out, err = run(t, "dead-letters", "retry", id)
	if err != nil || out != "retried "+id+" on consent.changed\n" {
		t.Fatalf("retry = %q, %v", out, err)
	}
	testkit.Eventually(t, "the retried message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == 1 && handled[0] == "not json"
	})
	if out, _ := run(t, "dead-letters", "list"); out != "no dead letters\n" {
		t.Errorf("list after retry = %q", out)
	}

	// Discard prints it and removes it.
	mu.Lock()
	broken = true
	mu.Unlock()
	if _, err := js.Publish(ctx, events.SubjectConsentChanged, []byte("still not json"), jetstream.WithMsgID("bad-2")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the second dead letter", func() bool {
		list, err = run(t, "dead-letters", "list", "--consumer", "test-consent")
		return err == nil && strings.Contains(list, "test-consent")
	})
	id = strings.Fields(list)[0]
	out, err = run(t, "dead-letters", "discard", id)
	if err != nil || !strings.Contains(out, "data: still not json") || !strings.Contains(out, "discarded "+id) {
		t.Errorf("discard = %q, %v", out, err)
	}
	if out, _ := run(t, "dead-letters", "list"); out != "no dead letters\n" {
		t.Errorf("list after discard = %q", out)
	}
}

// TestRetryKeepsTheDeadLetterWhenThePublishFails: a message whose subject
// no stream takes cannot be published again, and its dead letter stays.
func TestRetryKeepsTheDeadLetterWhenThePublishFails(t *testing.T) {
	js := adminJetStream(t)
	dl := events.DeadLettered{Meta: events.NewMeta(events.TypeDeadLettered, events.VersionDeadLettered, "", time.Now()),
		Consumer: "gone", Subject: "nowhere.at.all", Data: []byte("x"), Error: "boom", Deliveries: 5}
	data, err := events.Encode(dl)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(t.Context(), events.SubjectDeadLetterPrefix+"gone", data)
	if err != nil {
		t.Fatal(err)
	}
	id := itoa(ack.Sequence)
	if _, err := run(t, "dead-letters", "retry", id); err == nil || !strings.Contains(err.Error(), "it is kept") {
		t.Fatalf("retry to nowhere: %v", err)
	}
	if out, _ := run(t, "dead-letters", "list"); !strings.HasPrefix(out, id+" gone ") {
		t.Errorf("list after a failed retry = %q", out)
	}
}

func TestRetrySubject(t *testing.T) {
	for in, want := range map[string]string{
		"delivery.send.sms":   "delivery.retry.sms",
		"delivery.send.email": "delivery.retry.email",
		"consent.changed":     "consent.changed",
	} {
		if got := RetrySubject(in); got != want {
			t.Errorf("RetrySubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLag shows a consumer that has not been handed its messages.
func TestLag(t *testing.T) {
	js := adminJetStream(t)
	ctx := t.Context()
	if _, err := js.CreateOrUpdateConsumer(ctx, events.StreamConsent, jetstream.ConsumerConfig{Durable: "lagging", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := js.Publish(ctx, events.SubjectConsentChanged, []byte("{}"), jetstream.WithMsgID("m"+itoa(uint64(i)))); err != nil {
			t.Fatal(err)
		}
	}
	out, err := run(t, "lag")
	if err != nil || !strings.Contains(out, "CONSENT lagging pending=3 ack_pending=0 redelivered=0\n") {
		t.Errorf("lag = %q, %v", out, err)
	}
}

// TestVersion reads each service's build from its /metrics behind the
// services' real guard, as the operator caller.
func TestVersion(t *testing.T) {
	seed, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := svcauth.ParseTrusted("operator=" + public)
	if err != nil {
		t.Fatal(err)
	}
	info := buildinfo.Info{Version: "v1.2.3", Revision: "0123456789abcdef", GoVersion: "go1.26.8"}
	for _, name := range []string{"contacts", "campaigns", "delivery", "console"} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(info.Collector(name))
		v, err := svcauth.NewVerifier(name, trusted, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(svcauth.NewGuard(v, zap.NewNop()).Metrics(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
		t.Cleanup(srv.Close)
		t.Setenv("MUSTER_OPERATOR_"+strings.ToUpper(name)+"_URL", srv.URL)
	}
	keyFile := filepath.Join(t.TempDir(), "operator.key")
	if err := os.WriteFile(keyFile, []byte(seed+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MUSTER_OPERATOR_SERVICE_KEY_FILE", keyFile)
	out, err := run(t, "version")
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "muster ") {
		t.Fatalf("version = %q", out)
	}
	for i, name := range []string{"contacts", "campaigns", "delivery", "console"} {
		if want := name + " v1.2.3 (commit 0123456789ab, go1.26.8)"; lines[i+1] != want {
			t.Errorf("line %d = %q, want %q", i+1, lines[i+1], want)
		}
	}

	// A key the services do not trust gets no answer, and says so.
	other, _, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MUSTER_OPERATOR_SERVICE_KEY", other)
	out, err = run(t, "version")
	if err == nil || !strings.Contains(out, "contacts unknown (") || !strings.Contains(out, "401") {
		t.Errorf("version with an untrusted key = %q, %v", out, err)
	}
}

// TestCheck finds a missing secret and an unreachable database in a
// deployment's environment file, and passes what is right.
func TestCheck(t *testing.T) {
	n := testkit.StartNATS(t)
	_, public, err := svcauth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	db := testkit.AdminURL()
	env := strings.Join([]string{
		"# a deployment's .env",
		"CONTACTS_DATABASE_URL=" + db,
		"CONTACTS_NATS_URL=" + n.URL(),
		"CONTACTS_NATS_SEED=" + n.Seed(natsauth.Contacts),
		`CONTACTS_TRUSTED_CALLERS="console=` + public + `"`,
		"CAMPAIGNS_DATABASE_URL=postgres://postgres@127.0.0.1:1/muster_campaigns?sslmode=disable",
		"CAMPAIGNS_NATS_URL=" + n.URL(),
		"CAMPAIGNS_NATS_SEED=" + n.Seed(natsauth.Campaigns),
		"CAMPAIGNS_TRUSTED_CALLERS=console=" + public,
	}, "\n")
	file := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(file, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "check", "--env", file)
	if err == nil {
		t.Fatalf("check passed a broken deployment:\n%s", out)
	}
	for _, want := range []string{
		"campaigns: CAMPAIGNS_LINK_SECRET",
		"campaigns: CAMPAIGNS_DATABASE_URL does not answer",
		"delivery: DELIVERY_NATS_SEED is required",
		"delivery: DELIVERY_TRUSTED_CALLERS is required",
		"console: CONSOLE_SERVICE_KEY is required",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "DELIVERY_DATABASE_URL") {
		t.Errorf("a server that answers without the service's database yet (made at start) is a problem:\n%s", out)
	}
	if strings.Contains(out, "contacts:") {
		t.Errorf("check finds a problem in contacts, which is right:\n%s", out)
	}
}

type unreadable struct{}

func (unreadable) Error() string { return "unreadable" }

var errUnreadable error = unreadable{}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
