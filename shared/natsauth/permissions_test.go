package natsauth_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// connect connects as user to n, failing the test if it cannot.
func connect(t *testing.T, n *testkit.NATS, user string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, js, err := stream.Connect(n.URL(), "test-"+user, zaptest.NewLogger(t), n.ClientOptions(user)...)
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	return nc, js
}

func TestAnonymousClientCannotConnect(t *testing.T) {
	n := testkit.StartNATS(t)
	if nc, err := nats.Connect(n.URL()); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("anonymous connect: %v, want an authorization violation", err)
	}
	// A well-formed key the server does not know is no better.
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	opts, err := natsauth.ClientOptions(natsauth.Contacts, string(seed), "")
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(n.URL(), opts...); !errors.Is(err, nats.ErrAuthorization) {
		if nc != nil {
			nc.Close()
		}
		t.Fatalf("unknown key: %v, want an authorization violation", err)
	}
}

// forbidden publishes (or subscribes to) subject as user on a connection
// of its own and reports the server's permissions violation, or nil.
func forbidden(t *testing.T, n *testkit.NATS, user, op, subject string) error {
	t.Helper()
	// Violations are read from LastError, not printed.
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})
	nc, err := nats.Connect(n.URL(), append(n.ClientOptions(user), quiet)...)
	if err != nil {
		t.Fatalf("connecting as %s: %v", user, err)
	}
	defer nc.Close()
	switch op {
	case "pub":
		err = nc.Publish(subject, []byte("{}"))
	case "sub":
		_, err = nc.SubscribeSync(subject)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The server answers a violation before the flush's PONG.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.LastError(); err != nil && errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
		return err
	}
	return nil
}

// Each service's user gets a permissions violation on the subjects the
// architecture gives another service: the explicit cases, then every
// event subject of every other user, from the table.
func TestServiceCannotUseAnothersSubjects(t *testing.T) {
	n := testkit.StartNATS(t)
	cases := []struct {
		user, op, subject, why string
	}{
		{natsauth.Contacts, "pub", events.SendSubject(events.ChannelSMS), "only campaigns sends"},
		{natsauth.Delivery, "pub", events.SendSubject(events.ChannelSMS), "only campaigns sends; delivery re-queues on delivery.retry"},
		{natsauth.Delivery, "pub", events.SendSubject(events.ChannelEmail), "only campaigns sends"},
		{natsauth.Campaigns, "pub", events.RetrySubject(events.ChannelSMS), "only delivery re-queues dead letters"},
		{natsauth.Campaigns, "pub", events.SubjectConsentChanged, "only delivery and contacts change consent"},
		{natsauth.Contacts, "pub", events.SubjectInbound, "members' replies come from delivery"},
		{natsauth.Campaigns, "pub", events.StatusSubject("delivered"), "statuses come from delivery"},
		{natsauth.Contacts, "pub", events.SubjectDeadLetterPrefix + "delivery-send", "a dead letter names its own consumer"},
		{natsauth.Delivery, "pub", events.SubjectAudiencePage, "only campaigns asks for audiences"},
		{natsauth.Contacts, "pub", "_INBOX.campaigns.x", "contacts answers requests it received, nothing else"},
		{natsauth.Campaigns, "pub", "$JS.API.STREAM.DELETE." + events.StreamSend, "no service deletes a stream"},
		{natsauth.Delivery, "pub", "$JS.API.STREAM.PURGE." + events.StreamConsent, "no service purges a stream"},
		{natsauth.Contacts, "pub", "$JS.API.STREAM.UPDATE." + events.StreamSend, "contacts does not own SEND"},
		{natsauth.Campaigns, "pub", "$JS.API.CONSUMER.CREATE." + events.StreamConsent + ".spy", "campaigns reads no consent stream"},
		{natsauth.Contacts, "pub", "$JS.API.CONSUMER.MSG.NEXT." + events.StreamSend + ".delivery-send", "contacts pulls no send requests"},
		{natsauth.Campaigns, "pub", "$JS.ACK." + events.StreamSend + ".delivery-send.1.1.1.1.0", "campaigns acks no send request"},
		{natsauth.Campaigns, "sub", events.SubjectConsentChanged, "no core subscription to another's events"},
		{natsauth.Delivery, "sub", events.SubjectAudiencePage, "only contacts answers audience queries"},
		{natsauth.Campaigns, "sub", "_INBOX.contacts.>", "no service reads another's replies"},
		{natsauth.Contacts, "sub", ">", "no service listens to everything"},
		{natsauth.Delivery, "pub", events.SubjectContentPrefix + "x", "only campaigns stores content"},
		{natsauth.Contacts, "pub", "$JS.API.DIRECT.GET." + events.StreamContent + ".content.x", "only delivery reads stored content"},
		{natsauth.Delivery, "pub", "$JS.API.DIRECT.GET." + events.StreamSend + ".delivery.send.sms", "delivery reads send requests through its consumer only"},
	}
	// Every event subject a user publishes is forbidden to every user
	// whose own row does not grant it.
	for _, owner := range natsauth.Users() {
		for _, s := range owner.Events {
			subject := strings.NewReplacer(">", "x", "*", "x").Replace(s)
			for _, other := range natsauth.Users() {
				if other.All || mayPublish(other, subject) {
					continue
				}
				cases = append(cases, struct{ user, op, subject, why string }{other.Name, "pub", subject, owner.Name + "'s events"})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.user+" "+c.op+" "+c.subject, func(t *testing.T) {
			if forbidden(t, n, c.user, c.op, c.subject) == nil {
				t.Errorf("%s could %s %s (%s)", c.user, c.op, c.subject, c.why)
			}
		})
	}
}

// subjectIn is a subject of stream that a test may publish to.
func subjectIn(name string) string {
	switch name {
	case events.StreamSend:
		return events.SendSubject(events.ChannelSMS)
	case events.StreamMessages:
		return events.SubjectInbound
	case events.StreamConsent:
		return events.SubjectConsentChanged
	case events.StreamRhythm:
		return events.SubjectRhythmChanged
	case events.StreamErasure:
		return events.SubjectContactErased
	case events.StreamContent:
		return events.SubjectContentPrefix + "test"
	default:
		return events.SubjectDeadLetterPrefix + "test"
	}
}

// Every service's user can do all its row says, through the same code
// the services run: declare its streams, publish its events with
// acknowledgement, run each of its consumers (pull, ack, dead-letter,
// consumer info), and ask or answer its queries.
func TestServiceUsesItsOwnSubjects(t *testing.T) {
	for _, u := range natsauth.Users() {
		if u.All {
			continue
		}
		t.Run(u.Name, func(t *testing.T) {
			n := testkit.StartNATS(t)
			ctx := context.Background()
			nc, js := connect(t, n, u.Name)
			if err := stream.EnsureStreams(ctx, js, stream.Topology{}, u.Streams...); err != nil {
				t.Fatalf("declaring %v: %v", u.Streams, err)
			}
			// The other streams exist too, as they would with every
			// service started.
			_, admin := connect(t, n, natsauth.Admin)
			if err := stream.EnsureStreams(ctx, admin, stream.Topology{}); err != nil {
				t.Fatal(err)
			}
			for _, s := range u.Events {
				subject := strings.NewReplacer(">", "x", "*", "x").Replace(s)
				if err := stream.Publish(ctx, js, subject, events.NewID(), map[string]string{"test": "1"}); err != nil {
					t.Errorf("publishing %s: %v", subject, err)
				}
			}
			for _, c := range u.Consumers {
				runConsumer(t, admin, js, c)
			}
			for _, name := range u.Reads {
				subject := subjectIn(name)
				if err := stream.Publish(ctx, admin, subject, events.NewID(), map[string]string{"test": "read"}); err != nil {
					t.Fatal(err)
				}
				s, err := js.Stream(ctx, name)
				if err != nil {
					t.Fatalf("%s opening %s: %v", u.Name, name, err)
				}
				if m, err := s.GetLastMsgForSubject(ctx, subject); err != nil || !strings.Contains(string(m.Data), "read") {
					t.Errorf("%s reading %s by subject: %v", u.Name, subject, err)
				}
			}
			if len(u.Serves) > 0 {
				for _, s := range u.Serves {
					sub, err := nc.QueueSubscribe(s, u.Name, func(m *nats.Msg) { _ = m.Respond([]byte(`{"ok":true}`)) })
					if err != nil {
						t.Fatal(err)
					}
					defer sub.Unsubscribe()
				}
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
				if err := nc.LastError(); err != nil {
					t.Fatalf("serving %v: %v", u.Serves, err)
				}
			}
			// Requests need someone to answer: contacts, as itself.
			if len(u.Requests) > 0 {
				cnc, _ := connect(t, n, natsauth.Contacts)
				for _, s := range u.Requests {
					sub, err := cnc.QueueSubscribe(s, "contacts", func(m *nats.Msg) { _ = m.Respond([]byte(`{"ok":true}`)) })
					if err != nil {
						t.Fatal(err)
					}
					defer sub.Unsubscribe()
				}
				if err := cnc.Flush(); err != nil {
					t.Fatal(err)
				}
				for _, s := range u.Requests {
					if _, err := nc.Request(s, []byte(`{}`), 5*time.Second); err != nil {
						t.Errorf("asking %s: %v", s, err)
					}
				}
				if err := cnc.LastError(); err != nil {
					t.Errorf("contacts answering: %v", err)
				}
			}
			if err := nc.LastError(); err != nil {
				t.Errorf("%s was refused something: %v", u.Name, err)
			}
		})
	}
}

// runConsumer runs c as its user with the shared runner: the first
// message it is handed is dead-lettered, the second acknowledged.
func runConsumer(t *testing.T, admin, js jetstream.JetStream, c natsauth.Consumer) {
	t.Helper()
	ctx := context.Background()
	var handled atomic.Int32
	h := func(context.Context, stream.Msg) error {
		if handled.Add(1) == 1 {
			return stream.Permanent(errors.New("test: dead-letter this one"))
		}
		return nil
	}
	r, err := stream.Run(ctx, js, stream.Consumer{Stream: c.Stream, Durable: c.Durable}, h, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("running %s on %s: %v", c.Durable, c.Stream, err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r.Stop(stopCtx)
		cancel()
		// A work queue takes one unfiltered consumer at a time.
		if err := admin.DeleteConsumer(ctx, c.Stream, c.Durable); err != nil {
			t.Error(err)
		}
	}()
	for range 2 {
		if err := stream.Publish(ctx, admin, subjectIn(c.Stream), events.NewID(), map[string]string{"test": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	dl, err := admin.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, dlErr := dl.GetLastMsgForSubject(ctx, events.SubjectDeadLetterPrefix+c.Durable)
		cons, err := js.Consumer(ctx, c.Stream, c.Durable) // consumer info, as delivery's metrics read it
		if err != nil {
			t.Fatalf("%s reading its consumer: %v", c.Durable, err)
		}
		info := cons.CachedInfo()
		if dlErr == nil && handled.Load() >= 2 && info.NumAckPending == 0 && info.NumPending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: handled %d, dead letter %v, %d pending, %d unacked", c.Durable, handled.Load(), dlErr, info.NumPending, info.NumAckPending)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A service connects over TLS with the CA file it is configured with,
// and not without it.
func TestServiceConnectsOverTLS(t *testing.T) {
	n := testkit.StartNATSTLS(t)
	ctx := context.Background()
	_, js := connect(t, n, natsauth.Campaigns)
	if err := stream.EnsureStreams(ctx, js, stream.Topology{}, natsauth.Users()[1].Streams...); err != nil {
		t.Fatal(err)
	}
	if err := stream.Publish(ctx, js, events.SendSubject(events.ChannelSMS), events.NewID(), map[string]string{"test": "1"}); err != nil {
		t.Fatal(err)
	}
	// Without the CA the server's certificate is not trusted.
	opts, err := natsauth.ClientOptions(natsauth.Campaigns, n.Seed(natsauth.Campaigns), "")
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(n.URL(), opts...); err == nil {
		nc.Close()
		t.Fatal("connected over TLS without trusting the CA")
	}
	// TLS does not stand in for a key.
	if nc, err := nats.Connect(n.URL(), nats.RootCAs(n.CAFile())); err == nil {
		nc.Close()
		t.Fatal("anonymous client connected over TLS")
	}
}

func TestClientOptionsRefuseBadSeeds(t *testing.T) {
	acct, _ := nkeys.CreateAccount()
	acctSeed, _ := acct.Seed()
	user, _ := nkeys.CreateUser()
	userSeed, _ := user.Seed()
	userPub, _ := user.PublicKey()
	for _, c := range []struct{ name, user, seed string }{
		{"empty", natsauth.Contacts, ""},
		{"garbage", natsauth.Contacts, "not-a-seed"},
		{"public key", natsauth.Contacts, userPub},
		{"account seed", natsauth.Contacts, string(acctSeed)},
		{"unknown user", "console", string(userSeed)},
	} {
		if _, err := natsauth.ClientOptions(c.user, c.seed, ""); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	if _, err := natsauth.ClientOptions(natsauth.Contacts, string(userSeed), "/nonexistent/ca.crt"); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
