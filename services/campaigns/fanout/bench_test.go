package fanout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/contacts"
	"github.com/musterhq/muster/services/campaigns/fanout"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/migrations"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/services/campaigns/token"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/secret"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// BenchmarkFanout measures one campaign's fan-out to a 100,000-member
// audience (MUSTER_BENCH_MEMBERS overrides): from the claim to the last
// page's acknowledgements and cursor, rendering a petition text with a
// signed link per member and publishing each request to a file-backed
// JetStream stream, with recipients recorded in PostgreSQL. Contacts is
// stood in for by a responder serving pages from memory, so the number is
// campaigns' own rate.
func BenchmarkFanout(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("MUSTER_BENCH_MEMBERS")); err == nil && v > 0 {
		n = v
	}
	const pageSize = 1000
	ctx := context.Background()
	ns := testkit.StartNATS(b)
	// The bench stands in for contacts and resets the stream as the admin
	// user; the fan-out publishes as campaigns.
	nc, js, err := stream.Connect(ns.URL(), "bench", zap.NewNop(), ns.ClientOptions(natsauth.Admin)...)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cnc, _, err := stream.Connect(ns.URL(), "bench-campaigns", zap.NewNop(), ns.ClientOptions(natsauth.Campaigns)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cnc.Close()
	if err := stream.EnsureStreams(ctx, js, stream.Topology{Replicas: 1}); err != nil {
		b.Fatal(err)
	}
	serveAudience(b, nc, n, pageSize)
	pool, err := postgres.Open(ctx, testkit.Database(b, migrations.FS), 8)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	st := store.New(pool, time.Now)
	settings := message.Settings{OrgName: "Local 1199", Links: message.NewLinks(token.NewSigner(oneKey("bench-secret-bench-secret-bench-secret")), "https://act.example.org", 30*24*time.Hour)}
	fan, err := fanout.New(fanout.Config{PageSize: pageSize, Window: 4 * pageSize}, st, contacts.New(cnc, 10*time.Second), cnc, "bench", settings, time.Now, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	d := campaign.Draft{
		Name: "Staffing", Kind: campaign.KindPetition, Audience: campaign.Audience{Tag: "bench"},
		Body: "Local 1199: {{first_name|friend}}, sign for safe staffing: {{sign_link}} or reply {{sign_keyword}}. Reply STOP to opt out.",
	}
	var rate float64
	for b.Loop() {
		b.StopTimer()
		c, err := d.Validate(time.Now(), "America/New_York")
		if err != nil {
			b.Fatal(err)
		}
		if c, err = st.Create(ctx, c); err != nil {
			b.Fatal(err)
		}
		if _, _, err := st.Launch(ctx, c.ID, time.Now(), time.Now()); err != nil {
			b.Fatal(err)
		}
		lease, err := st.ClaimFanout(ctx, "bench", time.Minute)
		if err != nil || lease == nil {
			b.Fatalf("claim: %v %v", lease, err)
		}
		b.StartTimer()
		start := time.Now()
		if err := fan.Process(ctx, lease); err != nil {
			b.Fatal(err)
		}
		rate = float64(n) / time.Since(start).Seconds()
		b.StopTimer()
		if got, err := st.Get(ctx, c.ID); err != nil || got.Targeted != n || got.Status != campaign.StatusLaunched {
			b.Fatalf("after the fan-out: %+v %v", got, err)
		}
		if err := js.DeleteStream(ctx, events.StreamSend); err != nil { // the next round starts empty
			b.Fatal(err)
		}
		if err := stream.EnsureStreams(ctx, js, stream.Topology{Replicas: 1}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(rate, "msg/s")
	fmt.Printf("BENCH fanout_per_s %.0f msg/s\n", rate)
}

// serveAudience answers audience pages of n members from encoded pages
// made in advance, keyed by the cursor they follow.
func serveAudience(b *testing.B, nc *nats.Conn, n, pageSize int) {
	b.Helper()
	pages := map[string][]byte{}
	after := ""
	for i := 0; i < n; i += pageSize {
		var p events.AudiencePage
		for j := i; j < min(i+pageSize, n); j++ {
			p.Members = append(p.Members, events.Member{
				ContactID: fmt.Sprintf("00000000-0000-4000-8000-%012d", j), FirstName: "Member" + strconv.Itoa(j),
				Phone: fmt.Sprintf("+1212%07d", 2_000_000+j), TimeZone: "America/New_York",
			})
		}
		if i+pageSize < n {
			p.Next = p.Members[len(p.Members)-1].ContactID
		}
		data, err := json.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		pages[after] = data
		after = p.Members[len(p.Members)-1].ContactID
	}
	sub, err := nc.Subscribe(events.SubjectAudiencePage, func(m *nats.Msg) {
		var req events.AudiencePageRequest
		_ = json.Unmarshal(m.Data, &req)
		data, ok := pages[req.After]
		if !ok {
			data = []byte(`{"members":[]}`)
		}
		_ = m.Respond(data)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })
}

// oneKey is a keyring of one key; the literal keys here are long enough.
func oneKey(k string) secret.Keyring {
	keys, _ := secret.NewKeyring([]byte(k))
	return keys
}
