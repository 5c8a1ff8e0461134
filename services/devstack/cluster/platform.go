package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// Sender is the Twilio number every text goes out from.
const Sender = "+15550001111"

// Email wiring: the API key the simulator takes for mail/send, and the
// domain of the reply addresses, which only the simulator posts to.
const (
	simSendGridKey = "SG.muster-cluster"
	replyDomain    = "replies.muster.local"
)

// Options shape a platform. Zero values give the suite's default: three
// NATS nodes, two replicas of campaigns and delivery, the machine's
// PostgreSQL and Redis.
type Options struct {
	NATSNodes         int
	CampaignsReplicas int
	DeliveryReplicas  int
	// PrivateRedis and PrivatePostgres run servers of the test's own, so
	// it can stop and start them.
	PrivateRedis, PrivatePostgres bool
	// ContactsEnv, DeliveryEnv, CampaignsEnv and SimulatorEnv are extra
	// KEY=value settings, over the platform's own.
	ContactsEnv, DeliveryEnv, CampaignsEnv, SimulatorEnv []string
	// Replicas of each stream; 0 means one per NATS node, up to three.
	StreamReplicas int
	// NATSNoFsync has NATS acknowledge a write before it reaches the
	// disk, as the development stack's embedded server does; deployed
	// nodes fsync every write first, and so do the suite's by default.
	NATSNoFsync bool
	// WebhookReplicas are delivery replicas that send nothing
	// (DELIVERY_SEND=false) and take every webhook: members' replies,
	// and the status callbacks of the sending replicas' texts, as when a
	// deployment routes /webhooks to replicas of their own.
	WebhookReplicas int
}

// Platform is a running Muster: every service a process of its own. It
// sends texts through the simulator's Twilio and emails through its
// SendGrid, and members' replies to either come back through it.
type Platform struct {
	t    testing.TB
	NATS *NATS
	// Redis and Postgres are set when the options asked for private ones.
	Redis, Postgres *testkit.Server

	ContactsDB, CampaignsDB, DeliveryDB string

	Simulator *Process
	SimURL    string
	Contacts  *Process
	Campaigns []*Process
	Delivery  []*Process
	// Webhooks are the delivery replicas that send nothing
	// (Options.WebhookReplicas).
	Webhooks []*Process
	// CampaignsURLs, DeliveryURLs and WebhookURLs match Campaigns,
	// Delivery and Webhooks.
	CampaignsURLs, DeliveryURLs, WebhookURLs []string
	ContactsURL                              string
	// InboundURL is where members' texts reach delivery.
	InboundURL string
}

// Start builds nothing: bins come from Build. It creates the databases,
// starts the cluster, the simulator and every service, and returns once
// each one answers its health check.
func Start(t testing.TB, bins Binaries, o Options) *Platform {
	t.Helper()
	o = o.withDefaults()
	p := &Platform{t: t, NATS: startNATS(t, o.NATSNodes, !o.NATSNoFsync)}
	adminURL := testkit.AdminURL()
	if o.PrivatePostgres {
		p.Postgres = testkit.PrivatePostgres(t)
		adminURL = p.Postgres.AdminURL()
	}
	redisURL, prefix := testkit.RedisURL(), "muster:"
	if o.PrivateRedis {
		p.Redis = testkit.PrivateRedis(t)
		redisURL = p.Redis.URL()
	} else {
		_, prefix = testkit.Redis(t)
	}
	// Dropped when the test ends, after the services (cleanups run last
	// registered first).
	p.ContactsDB = testkit.DatabaseOn(t, adminURL, contactsdb.FS)
	p.CampaignsDB = testkit.DatabaseOn(t, adminURL, campaignsdb.FS)
	p.DeliveryDB = testkit.DatabaseOn(t, adminURL, deliverydb.FS)

	replicas := strconv.Itoa(o.StreamReplicas)
	// Small connection pools: a case runs five services, and make test
	// runs other packages' tests against the same PostgreSQL.
	common := func(prefix, addr, dsn string) []string {
		conns := "4"
		if prefix == "DELIVERY_" {
			conns = "8"
		}
		// The suite calls the services' APIs as the test caller, which
		// is the one caller they trust here.
		return append(p.NATS.Env(prefix), prefix+"HTTP_ADDR="+addr, prefix+"DATABASE_URL="+dsn,
			prefix+"STREAM_REPLICAS="+replicas, prefix+"LOG_LEVEL=warn", prefix+"DB_MAX_CONNS="+conns,
			prefix+"TRUSTED_CALLERS="+svcauthtest.Trusted(),
			// Against the simulator, with its credentials: development mode.
			prefix+"DEV_MODE=true")
	}

	deliveryAddrs := make([]string, o.DeliveryReplicas)
	for i := range deliveryAddrs {
		deliveryAddrs[i] = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		p.DeliveryURLs = append(p.DeliveryURLs, "http://"+deliveryAddrs[i])
	}
	// Members' replies reach the last delivery replica; the suite kills
	// the first. With replicas that only take webhooks, they take them
	// all, status callbacks too.
	webhookAddrs := make([]string, o.WebhookReplicas)
	for i := range webhookAddrs {
		webhookAddrs[i] = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		p.WebhookURLs = append(p.WebhookURLs, "http://"+webhookAddrs[i])
	}
	inbound := p.DeliveryURLs[len(p.DeliveryURLs)-1]
	publicURLs := p.DeliveryURLs
	if len(p.WebhookURLs) > 0 {
		inbound = p.WebhookURLs[len(p.WebhookURLs)-1]
		publicURLs = make([]string, len(p.DeliveryURLs))
		for i := range publicURLs {
			publicURLs[i] = p.WebhookURLs[i%len(p.WebhookURLs)]
		}
	}
	p.InboundURL = inbound + twilio.InboundPath

	inboundSecret := secret.Generate()

	simAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	p.SimURL = "http://" + simAddr
	p.Simulator = newProcess(t, "simulator", bins.Path("simulator"), p.SimURL+"/healthz", append([]string{
		"SIMULATOR_ADDR=" + simAddr, "SIMULATOR_INBOUND_URL=" + p.InboundURL,
		"SIMULATOR_AUTO_CALLBACKS=true", "SIMULATOR_AUTO_EMAIL_EVENTS=false", "SIMULATOR_CALLBACK_WORKERS=32",
		"SIMULATOR_SENDGRID_KEY=" + simSendGridKey, "SIMULATOR_EVENT_WEBHOOK_URL=" + inbound + sendgrid.EventsPath,
		"SIMULATOR_INBOUND_PARSE_URL=" + inbound + sendgrid.InboundPrefix + inboundSecret,
	}, o.SimulatorEnv...))
	p.Simulator.Start()
	// Delivery verifies the simulator's signed email events with its key.
	var eventKey struct {
		PublicKey string `json:"public_key"`
	}
	if code, err := callQuiet("GET", p.SimURL+"/sim/sendgrid/public-key", nil, &eventKey); err != nil || code != 200 {
		t.Fatalf("reading the simulator's event key: %d, %v", code, err)
	}

	contactsAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	p.ContactsURL = "http://" + contactsAddr
	p.Contacts = newProcess(t, "contacts", bins.Path("contacts"), p.ContactsURL+"/healthz",
		append(append(common("CONTACTS_", contactsAddr, p.ContactsDB), "CONTACTS_OUTBOX_POLL=200ms"), o.ContactsEnv...))
	p.Contacts.Start()

	for i := range o.CampaignsReplicas {
		addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
		url := "http://" + addr
		p.CampaignsURLs = append(p.CampaignsURLs, url)
		p.Campaigns = append(p.Campaigns, newProcess(t, fmt.Sprintf("campaigns-%d", i+1), bins.Path("campaigns"), url+"/healthz",
			append(append(common("CAMPAIGNS_", addr, p.CampaignsDB),
				"CAMPAIGNS_REPLICA_NAME="+fmt.Sprintf("campaigns-%d", i+1), "CAMPAIGNS_PUBLIC_URL="+url,
				"CAMPAIGNS_LINK_SECRET=fault-suite-link-secret-0123456789",
				// A dead replica's fan-out is taken over within seconds.
				"CAMPAIGNS_FANOUT_LEASE=3s", "CAMPAIGNS_FANOUT_POLL=200ms"), o.CampaignsEnv...)))
	}
	for _, c := range p.Campaigns {
		c.Start()
	}

	deliveryEnv := func(addr, publicURL string) []string {
		return append(common("DELIVERY_", addr, p.DeliveryDB),
			"DELIVERY_PUBLIC_URL="+publicURL,
			"DELIVERY_REDIS_URL="+redisURL, "DELIVERY_REDIS_PREFIX="+prefix,
			"DELIVERY_TWILIO_API_URL="+p.SimURL, "DELIVERY_TWILIO_ACCOUNT_SID="+sim.DefaultAccountSID,
			"DELIVERY_TWILIO_AUTH_TOKEN="+sim.DefaultAuthToken, "DELIVERY_TWILIO_FROM="+Sender,
			"DELIVERY_SENDGRID_API_URL="+p.SimURL, "DELIVERY_SENDGRID_API_KEY="+simSendGridKey,
			"DELIVERY_SENDGRID_WEBHOOK_PUBLIC_KEY="+eventKey.PublicKey,
			"DELIVERY_INBOUND_EMAIL_DOMAIN="+replyDomain, "DELIVERY_SENDGRID_INBOUND_SECRET="+inboundSecret,
			// A killed replica's messages come back to the other in 5s.
			"DELIVERY_ACK_WAIT=5s", "DELIVERY_TWILIO_TIMEOUT=3s",
			// A send with no clear answer is looked up at the provider soon.
			"DELIVERY_RECONCILE_LOOKUP_AFTER=5s", "DELIVERY_RECONCILE_EVERY=1s",
			"DELIVERY_TIME_ZONE="+testkit.DaytimeZone())
	}
	for i, addr := range webhookAddrs {
		env := append(deliveryEnv(addr, p.WebhookURLs[i]), "DELIVERY_SEND=false")
		p.Webhooks = append(p.Webhooks, newProcess(t, fmt.Sprintf("delivery-webhooks-%d", i+1), bins.Path("delivery"),
			p.WebhookURLs[i]+"/healthz", append(env, o.DeliveryEnv...)))
	}
	for i, addr := range deliveryAddrs {
		p.Delivery = append(p.Delivery, newProcess(t, fmt.Sprintf("delivery-%d", i+1), bins.Path("delivery"),
			p.DeliveryURLs[i]+"/healthz", append(deliveryEnv(addr, publicURLs[i]), o.DeliveryEnv...)))
	}
	for _, d := range slices.Concat(p.Webhooks, p.Delivery) {
		d.Start()
	}
	return p
}

// Stop kills every process and shuts the NATS cluster down, so another
// platform can run after it.
func (p *Platform) Stop() {
	for _, proc := range p.processes() {
		proc.Kill()
	}
	p.NATS.StopAll()
}

// processes are the platform's processes but NATS's.
func (p *Platform) processes() []*Process {
	return slices.Concat([]*Process{p.Contacts, p.Simulator}, p.Campaigns, p.Delivery, p.Webhooks)
}

func (o Options) withDefaults() Options {
	if o.NATSNodes == 0 {
		o.NATSNodes = 3
	}
	if o.CampaignsReplicas == 0 {
		o.CampaignsReplicas = 2
	}
	if o.DeliveryReplicas == 0 {
		o.DeliveryReplicas = 2
	}
	if o.StreamReplicas == 0 {
		o.StreamReplicas = min(o.NATSNodes, 3)
	}
	return o
}

// Phone is member i's number.
func Phone(i int) string { return fmt.Sprintf("+1212%07d", 2_000_000+i) }

// Seed bulk-loads n members tagged tag into the contacts database, in a
// zone where it is daytime, so quiet hours hold nothing back. It returns
// their numbers in member order.
func (p *Platform) Seed(n int, tag string) []string {
	p.t.Helper()
	return p.seed(n, tag, "phone", func(i int) (string, string) { return "Member" + strconv.Itoa(i), Phone(i) })
}

// SeedEmail is Seed for members with an email address
// (testkit.MemberEmail) and a first name of their own
// (testkit.FirstName), as the email benchmarks have them. It returns
// their addresses in member order.
func (p *Platform) SeedEmail(n int, tag string) []string {
	p.t.Helper()
	return p.seed(n, tag, "email", func(i int) (string, string) { return testkit.FirstName(i), testkit.MemberEmail(i) })
}

// seed loads n members, member i with the first name and the address (in
// the column address) member gives, and returns the addresses.
func (p *Platform) seed(n int, tag, address string, member func(i int) (firstName, addr string)) []string {
	p.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, p.ContactsDB)
	if err != nil {
		p.t.Fatal(err)
	}
	defer conn.Close(ctx)
	zone := testkit.DaytimeZone()
	// The binaries keep the real clock, so the seed is stamped with it.
	now := time.Now()
	addrs := make([]string, n)
	rows := make([][]any, n)
	for i := range rows {
		var name string
		name, addrs[i] = member(i)
		rows[i] = []any{name, addrs[i], []string{tag}, zone, now, now}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"contacts"}, []string{"first_name", address, "tags", "time_zone", "created_at", "updated_at"},
		pgx.CopyFromRows(rows)); err != nil {
		p.t.Fatalf("seeding %d members: %v", n, err)
	}
	// As the importer does after a large import.
	if _, err := conn.Exec(ctx, `ANALYZE contacts; ANALYZE consent`); err != nil {
		p.t.Fatalf("analyzing contacts: %v", err)
	}
	return addrs
}

// Launch creates an SMS alert to everyone tagged tag on the first campaigns
// replica and launches it, returning the campaign id.
func (p *Platform) Launch(tag string) string {
	p.t.Helper()
	return p.LaunchDraft(map[string]any{
		"name": "fault suite", "body": "Hi {{first_name}}, the vote is Thursday. Reply STOP to opt out.",
		"audience": map[string]string{"tag": tag},
	})
}

// LaunchDraft creates the campaign draft describes (the body of POST
// /campaigns) on the first campaigns replica and launches it, returning
// the campaign id.
func (p *Platform) LaunchDraft(draft map[string]any) string {
	p.t.Helper()
	var c struct {
		ID string `json:"id"`
	}
	if code, body := testkit.CallService(p.t, "campaigns", "POST", p.CampaignsURLs[0]+"/campaigns", draft, &c); code != 201 {
		p.t.Fatalf("create campaign = %d: %s", code, body)
	}
	if code, body := testkit.CallService(p.t, "campaigns", "POST", p.CampaignsURLs[0]+"/campaigns/"+c.ID+"/launch", nil, nil); code != 202 {
		p.t.Fatalf("launch = %d: %s", code, body)
	}
	return c.ID
}

// SimCount is how many texts the simulator has accepted; -1 when it
// cannot be asked.
func (p *Platform) SimCount() int { return p.simStats().Count }

// SimEmailCount is how many emails the simulator has accepted; -1 when it
// cannot be asked.
func (p *Platform) SimEmailCount() int { return p.simStats().Emails }

type simStats struct {
	Count  int `json:"count"`
	Emails int `json:"emails"`
}

func (p *Platform) simStats() simStats {
	var st simStats
	if code, _ := callQuiet("GET", p.SimURL+"/sim/stats", nil, &st); code != 200 {
		return simStats{Count: -1, Emails: -1}
	}
	return st
}

// WaitEmailed waits until the provider has taken n emails.
func (p *Platform) WaitEmailed(n int, within time.Duration) {
	p.t.Helper()
	p.waitTaken(n, "emails", p.SimEmailCount, within)
}

// waitTaken waits until count, the simulator's count of what (texts or
// emails), reaches n.
func (p *Platform) waitTaken(n int, what string, count func() int, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for count() < n {
		if time.Now().After(deadline) {
			p.t.Fatalf("the provider took only %d of %d %s in %s", count(), n, what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// EmailsAt is the emails the simulator took at the given positions, in
// the order it took them: a few to look at out of many.
func (p *Platform) EmailsAt(positions ...int) []sim.Email {
	p.t.Helper()
	at := make([]string, len(positions))
	for i, n := range positions {
		at[i] = strconv.Itoa(n)
	}
	var out struct {
		Emails []sim.Email `json:"emails"`
	}
	if code, err := callQuiet("GET", p.SimURL+"/sim/emails?at="+strings.Join(at, ","), nil, &out); err != nil || code != 200 {
		p.t.Fatalf("reading the simulator's emails: %d, %v", code, err)
	}
	return out.Emails
}

// WaitSent waits until the provider has taken n texts.
func (p *Platform) WaitSent(n int, within time.Duration) {
	p.t.Helper()
	p.waitTaken(n, "texts", p.SimCount, within)
}

// WaitSettled waits until campaigns' results hold a final status
// (delivered, undelivered, failed...) for n of the campaign's messages,
// texts or emails: what the organizer's results page counts as done.
func (p *Platform) WaitSettled(campaignID string, n int, within time.Duration) {
	p.t.Helper()
	WaitSettled(p.t, p.CampaignsDB, campaignID, n, within)
}

// WaitSettled waits until the campaigns database at dsn holds a final
// status for n of the campaign's messages. It asks twice a second, on one
// connection, whether any message still ranks below a final status, which
// reads only up to the first such message (at most about 10 ms of
// PostgreSQL's time at 100,000 messages, taken from the platform being
// measured), and counts the messages once none does.
func WaitSettled(tb testing.TB, dsn, campaignID string, n int, within time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatalf("connecting to campaigns' database: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for ; ; time.Sleep(500 * time.Millisecond) {
		var unsettled bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM campaign_messages WHERE campaign_id = $1::uuid AND status_rank < $2)`,
			campaignID, events.RankTerminal).Scan(&unsettled)
		if err != nil {
			tb.Fatalf("waiting for %d messages to settle in campaigns' results: %v", n, err)
		}
		if unsettled {
			continue
		}
		var settled int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM campaign_messages WHERE campaign_id = $1::uuid`, campaignID).Scan(&settled); err != nil {
			tb.Fatalf("counting settled messages in campaigns' results: %v", err)
		}
		if settled >= n {
			return
		}
	}
}

// SetFaults replaces the simulator's Twilio fault rules.
func (p *Platform) SetFaults(rules []map[string]any) {
	p.t.Helper()
	if code, body := testkit.CallJSON(p.t, "PUT", p.SimURL+"/sim/faults", map[string]any{"rules": rules}, nil); code != 200 {
		p.t.Fatalf("setting faults = %d: %s", code, body)
	}
}

// ClearFaults removes every fault rule.
func (p *Platform) ClearFaults() {
	p.t.Helper()
	if code, body := testkit.CallJSON(p.t, "DELETE", p.SimURL+"/sim/faults", nil, nil); code/100 != 2 {
		p.t.Fatalf("clearing faults = %d: %s", code, body)
	}
}

// TextStop texts STOP from a member's phone through the simulator and
// returns when delivery's webhook has answered, that is after the opt-out
// was committed.
func (p *Platform) TextStop(phone string) (time.Time, error) {
	var res struct {
		StatusCode int `json:"status_code"`
	}
	code, err := callQuiet("POST", p.SimURL+"/sim/reply", sim.Reply{From: phone, To: Sender, Body: "STOP"}, &res)
	if err != nil {
		return time.Time{}, err
	}
	if code != 200 || res.StatusCode != 200 {
		return time.Time{}, fmt.Errorf("STOP from %s: simulator %d, webhook %d", phone, code, res.StatusCode)
	}
	return time.Now(), nil
}

// Fanout is a campaign's first-step fan-out job: running until every
// send request is published, how many were published, and which campaigns
// replica holds its lease.
type Fanout struct {
	Status, Owner string
	Published     int
}

// FanoutOf reads a campaign's fan-out progress; Status is empty until the
// job exists.
func (p *Platform) FanoutOf(ctx context.Context, campaignID string) (Fanout, error) {
	var f Fanout
	err := queryRow(ctx, p.CampaignsDB, `SELECT coalesce(max(status), ''), coalesce(sum(published), 0)::int,
		coalesce(max(lease_owner), '') FROM fanout_jobs WHERE campaign_id = $1::uuid AND step = 0`,
		[]any{campaignID}, &f.Status, &f.Published, &f.Owner)
	return f, err
}

// CampaignsByName is the campaigns replica with a replica name, as fan-out
// leases name their owner.
func (p *Platform) CampaignsByName(name string) *Process {
	p.t.Helper()
	for _, c := range p.Campaigns {
		if c.Name == name {
			return c
		}
	}
	p.t.Fatalf("no campaigns replica named %q", name)
	return nil
}
