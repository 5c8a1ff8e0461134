package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/campaigns/app"
	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// member is a contact of the contacts stand-in.
type member struct {
	events.Member
	tags []string
}

// directory answers campaigns' requests to contacts over NATS, as the
// contacts service does (contacts.audience.page by tag, in contact id
// order; contacts.member.get when members is true), from a list in
// memory. It is the contract, not a mock of a database.
type directory struct {
	mu        sync.Mutex
	list      []member
	delay     time.Duration // per page, to make a fan-out slow enough to interrupt
	countSize bool          // answer contacts.audience.count too
	filters   []string      // the audience filters asked for, as sent
}

func (d *directory) add(ms ...member) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.list = append(d.list, ms...)
	sort.Slice(d.list, func(i, j int) bool { return d.list[i].ContactID < d.list[j].ContactID })
}

func (d *directory) serve(t testing.TB, nc *nats.Conn, members bool) {
	t.Helper()
	sub, err := nc.QueueSubscribe(events.SubjectAudiencePage, "contacts", func(msg *nats.Msg) {
		var req events.AudiencePageRequest
		_ = json.Unmarshal(msg.Data, &req)
		if d.delay > 0 {
			time.Sleep(d.delay)
		}
		d.mu.Lock()
		if len(req.Filter) > 0 {
			d.filters = append(d.filters, string(req.Filter))
		}
		page := events.AudiencePage{Members: []events.Member{}}
		for _, m := range d.list {
			if m.ContactID <= req.After || !slices.Contains(m.tags, req.Tag) ||
				(req.Channel == events.ChannelSMS && m.Phone == "") || (req.Channel == events.ChannelEmail && m.Email == "") {
				continue
			}
			if len(page.Members) == req.Limit {
				page.Next = page.Members[len(page.Members)-1].ContactID
				break
			}
			page.Members = append(page.Members, m.Member)
		}
		d.mu.Unlock()
		data, _ := json.Marshal(page)
		_ = msg.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if members {
		sub, err := nc.Subscribe(events.SubjectMemberGet, func(msg *nats.Msg) {
			var req events.MemberRequest
			_ = json.Unmarshal(msg.Data, &req)
			d.mu.Lock()
			reply := events.MemberReply{NotFound: true}
			for _, m := range d.list {
				if m.ContactID == req.ContactID {
					mm := m.Member
					reply = events.MemberReply{Member: &mm}
				}
			}
			d.mu.Unlock()
			data, _ := json.Marshal(reply)
			_ = msg.Respond(data)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if d.countSize {
		sub, err := nc.Subscribe(events.SubjectAudienceCount, func(msg *nats.Msg) {
			var req events.AudiencePageRequest
			_ = json.Unmarshal(msg.Data, &req)
			var out events.AudienceCount
			d.mu.Lock()
			for _, m := range d.list {
				if !slices.Contains(m.tags, req.Tag) {
					continue
				}
				out.Total++
				if m.Phone == "" {
					out.SMS.NoAddress++
				} else {
					out.SMS.Reachable++
				}
				if m.Email == "" {
					out.Email.NoAddress++
				} else {
					out.Email.Reachable++
				}
			}
			d.mu.Unlock()
			data, _ := json.Marshal(out)
			_ = msg.Respond(data)
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
}

// harness runs the campaigns service in-process against a fresh
// PostgreSQL database and an embedded NATS server, with the contacts
// stand-in answering and a test clock. It can stop the service and start
// a new one on the same database, as after a crash.
type harness struct {
	t     testing.TB
	nats  *testkit.NATS
	db    string
	clock *testkit.Clock
	// began is where the clock started; tests place meetings after it.
	began time.Time
	dir   *directory
	nc    *nats.Conn
	js    jetstream.JetStream
	cfg   func(*app.Config)

	mu   sync.Mutex
	apps []*running
	// raw counts every send request published, duplicates included (a
	// core subscription sees what JetStream's dedupe then drops).
	raw atomic.Int64
}

type running struct {
	app    *app.App
	url    string
	cancel context.CancelFunc
	done   chan error
}

func newHarness(t testing.TB, members bool, cfg func(*app.Config)) *harness {
	t.Helper()
	h := &harness{t: t, nats: testkit.StartNATS(t), db: testkit.Database(t, migrations.FS), clock: testkit.NewClock(t), dir: &directory{}, cfg: cfg}
	// 10:00 in New York on Tuesday 1 December 2026, whenever the test runs
	// and however MUSTER_TEST_CLOCK_SHIFT moves other clocks: these tests
	// assert what members read ("Friday, December 4 at 6:00 PM EST"), so
	// their time is pinned; from there the clock runs, as leases need it
	// to. Nothing in campaigns reads the database's clock, so the real
	// time of day cannot reach them.
	h.began = time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	h.clock.Set(h.began)
	var err error
	// The test stands in for contacts and delivery, and watches every
	// subject: it connects as the admin user. The service runs as its own.
	h.nc, h.js, err = stream.Connect(h.nats.URL(), "test", zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), h.nats.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	if err := stream.EnsureStreams(context.Background(), h.js, stream.Topology{Replicas: 1}); err != nil {
		t.Fatal(err)
	}
	h.dir.serve(t, h.nc, members)
	sub, err := h.nc.Subscribe(events.SubjectSendAll, func(m *nats.Msg) {
		ps, err := stream.Parts(m.Header, m.Data)
		if err != nil {
			t.Errorf("unreadable batch of send requests: %v", err)
		}
		h.raw.Add(int64(len(ps)))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return h
}

// start runs a campaigns service and returns its base URL.
func (h *harness) start() *running {
	h.t.Helper()
	cfg := app.DefaultConfig()
	cfg.HTTPAddr, cfg.DatabaseURL, cfg.NATSURL = "127.0.0.1:0", h.db, h.nats.URL()
	cfg.NATSSeed = h.nats.Seed(natsauth.Campaigns)
	cfg.TrustedCallers = svcauthtest.Trusted()
	cfg.FanoutPoll, cfg.SchedulePoll, cfg.FanoutLease = 50*time.Millisecond, time.Hour, 5*time.Second
	cfg.ShutdownTimeout = 2 * time.Second // a stop that hangs fails fast
	cfg.OrgName = "Local 1199"
	cfg.LinkSecret = "test-link-secret-test-link-secret-0123"
	if h.cfg != nil {
		h.cfg(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, zaptest.NewLogger(h.t, zaptest.Level(zap.WarnLevel)), app.Options{Clock: h.clock.Now})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	r := &running{app: a, url: a.URL(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	h.mu.Lock()
	h.apps = append(h.apps, r)
	h.mu.Unlock()
	h.t.Cleanup(func() { r.stop(h.t) })
	return r
}

// stop shuts a service down and waits for it.
func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("campaigns stopped with %v", err)
		}
		r.done <- nil // a second stop returns at once
	case <-time.After(30 * time.Second):
		t.Error("campaigns did not stop")
	}
}

// tick moves the clock and starts what is due, as the scheduler would on
// its next look.
func (h *harness) tick(r *running, at time.Time) {
	h.t.Helper()
	h.clock.Set(at)
	if _, err := r.app.Tick(context.Background()); err != nil {
		h.t.Fatal(err)
	}
}

// call makes a JSON request to campaigns, as the test caller it trusts,
// and decodes a JSON answer into out.
func call(t testing.TB, method, url string, body, out any) int {
	t.Helper()
	code, _ := testkit.CallService(t, "campaigns", method, url, body, out)
	return code
}

// api is an HTTP client that calls campaigns as the test caller.
// Members' pages are opened with a plain client: they need no credentials.
func api() *http.Client { return svcauthtest.Client("campaigns") }

// invited waits until n first messages of campaign id are out (acked by
// the broker) and recorded as sent to their members, which the fan-out
// does just after the broker's ack: a member answers only once the text
// reached them, so tests that answer wait for both.
func invited(t testing.TB, url, id string, out *outbox, n int) {
	t.Helper()
	testkit.Eventually(t, "the first messages", func() bool { return len(out.step(id, 0)) == n })
	testkit.Eventually(t, "the members recorded", func() bool { return get(t, url, id).Targeted == n })
}

// outbox is what delivery would get: every send request stored in the
// SEND stream, read by a durable consumer as delivery reads it.
type outbox struct {
	mu   sync.Mutex
	msgs []events.SendRequested
	keys map[string]int
	// refs are the requests that named stored content, as published;
	// msgs holds them merged, as the member gets them.
	refs []events.SendRequested
}

// storedContent reads the email content stored under ref, as delivery
// reads it.
func (h *harness) storedContent(ref string) (events.Content, error) {
	s, err := h.js.Stream(context.Background(), events.StreamContent)
	if err != nil {
		return events.Content{}, err
	}
	m, err := s.GetLastMsgForSubject(context.Background(), events.ContentSubject(ref))
	if err != nil {
		return events.Content{}, err
	}
	if events.RefOf(m.Data) != ref {
		return events.Content{}, fmt.Errorf("content under %s hashes otherwise", ref)
	}
	var c events.Content
	return c, json.Unmarshal(m.Data, &c)
}

// merged is a request naming stored content with the content merged in,
// as the member gets it (escaping values in the HTML part as delivery
// does): what tests of campaigns' words read.
func (h *harness) merged(req events.SendRequested) events.SendRequested {
	c, err := h.storedContent(req.ContentRef)
	if err != nil {
		h.t.Errorf("request %s names content %s: %v", req.IdempotencyKey, req.ContentRef, err)
		return req
	}
	if len(req.MergeValues) != len(c.Merge) {
		h.t.Errorf("request %s: %d merge values for %d fields", req.IdempotencyKey, len(req.MergeValues), len(c.Merge))
		return req
	}
	var text, markup []string
	for i, v := range req.MergeValues {
		text = append(text, events.MergeTag(i, false), v)
		markup = append(markup, events.MergeTag(i, true), html.EscapeString(v))
	}
	tr, hr := strings.NewReplacer(text...), strings.NewReplacer(markup...)
	req.Subject, req.Body, req.HTML, req.Attachments = tr.Replace(c.Subject), tr.Replace(c.Text), hr.Replace(c.HTML), c.Attachments
	return req
}

func (h *harness) outbox() *outbox {
	h.t.Helper()
	o := &outbox{keys: map[string]int{}}
	cons, err := h.js.CreateOrUpdateConsumer(context.Background(), events.StreamSend, jetstream.ConsumerConfig{
		Durable: "test-delivery", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20_000,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ps, err := stream.Parts(m.Headers(), m.Data())
		if err != nil {
			h.t.Errorf("unreadable batch of send requests: %v", err)
		}
		for _, p := range ps {
			var req events.SendRequested
			if err := json.Unmarshal(p, &req); err != nil {
				h.t.Errorf("undecodable send request: %v", err)
			}
			if req.ContentRef != "" {
				o.mu.Lock()
				o.refs = append(o.refs, req)
				o.mu.Unlock()
				req = h.merged(req)
			}
			o.mu.Lock()
			o.msgs = append(o.msgs, req)
			o.keys[req.IdempotencyKey]++
			o.mu.Unlock()
		}
		_ = m.Ack()
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(cc.Stop)
	return o
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

// where lists the requests matching f.
func (o *outbox) where(f func(events.SendRequested) bool) []events.SendRequested {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []events.SendRequested
	for _, m := range o.msgs {
		if f(m) {
			out = append(out, m)
		}
	}
	return out
}

// step lists "contact/channel" for every request of a step of a campaign,
// sorted.
func (o *outbox) step(campaignID string, step int) []string {
	var out []string
	for _, m := range o.where(func(m events.SendRequested) bool {
		return m.CampaignID == campaignID && m.Step == step && strings.HasPrefix(m.IdempotencyKey, fmt.Sprintf("c.%s.s%d.", campaignID, step))
	}) {
		out = append(out, m.ContactID+"/"+string(m.Channel))
	}
	sort.Strings(out)
	return out
}

// inbound publishes a member's reply as delivery would.
func (h *harness) inbound(campaignID, contactID, from, body string) events.InboundReceived {
	h.t.Helper()
	ev := events.InboundReceived{
		Meta:      events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now()),
		MessageID: events.NewID(), ProviderID: "SM" + events.NewID()[:10], Channel: events.ChannelSMS,
		From: from, To: "+15550001111", Body: body, CampaignID: campaignID, ContactID: contactID,
	}
	h.publishInbound(ev, ev.ID)
	return ev
}

func (h *harness) publishInbound(ev events.InboundReceived, msgID string) {
	h.t.Helper()
	if err := stream.Publish(context.Background(), h.js, events.SubjectInbound, msgID, ev); err != nil {
		h.t.Fatal(err)
	}
}

// status publishes a status change as delivery would.
func (h *harness) status(req events.SendRequested, status, msgID string) {
	h.t.Helper()
	ev := events.StatusChanged{
		Meta:         events.NewMeta(events.TypeStatusChanged, events.VersionStatusChanged, req.CampaignID, time.Now()),
		StatusChange: change(req, status),
	}
	if err := stream.Publish(context.Background(), h.js, events.StatusSubject(status), msgID, ev); err != nil {
		h.t.Fatal(err)
	}
}

// statuses publishes many status changes in one event, as delivery does
// for a batch.
func (h *harness) statuses(changes ...events.StatusChange) {
	h.t.Helper()
	ev := events.StatusesChanged{
		Meta:    events.NewMeta(events.TypeStatusesChanged, events.VersionStatuses, "", time.Now()),
		Changes: changes,
	}
	if err := stream.Publish(context.Background(), h.js, events.SubjectStatuses, ev.ID, ev); err != nil {
		h.t.Fatal(err)
	}
}

// change is the status change delivery would report for a request.
func change(req events.SendRequested, status string) events.StatusChange {
	c := events.StatusChange{
		MessageID: "m-" + req.IdempotencyKey, IdempotencyKey: req.IdempotencyKey, CampaignID: req.CampaignID,
		ContactID: req.ContactID, Channel: req.Channel, Status: status,
	}
	if status == events.StatusFailed {
		c.ErrorCode, c.Reason = "30003", "unreachable handset"
	}
	return c
}

type campaignOut struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Targeted    int    `json:"targeted"`
	ScheduledAt string `json:"scheduled_at"`
	Revision    int    `json:"revision"`
}

type launchOut struct {
	Campaign        campaignOut `json:"campaign"`
	AlreadyLaunched bool        `json:"already_launched"`
}

type errOut struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
	Field string `json:"field"`
}

func create(t testing.TB, url string, body map[string]any) string {
	t.Helper()
	var c campaignOut
	var e errOut
	raw, _ := json.Marshal(body)
	resp, err := api().Post(url+"/campaigns", "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		_ = json.Unmarshal(b, &e)
		t.Fatalf("create = %d %+v", resp.StatusCode, e)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func get(t testing.TB, url, id string) campaignOut {
	t.Helper()
	var c campaignOut
	if code := call(t, "GET", url+"/campaigns/"+id, nil, &c); code != 200 {
		t.Fatalf("get campaign = %d", code)
	}
	return c
}
