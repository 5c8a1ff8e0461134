package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/outbox"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/testkit"
)

// schema is the outbox table as the services' migrations make it.
var schema = fstest.MapFS{"0001_outbox.sql": {Data: []byte(`-- +goose Up
CREATE TABLE outbox (id bigserial PRIMARY KEY, subject text NOT NULL, msg_id text NOT NULL,
    payload bytea NOT NULL, created_at timestamptz NOT NULL);
-- +goose Down
DROP TABLE outbox;
`)}}

type fixture struct {
	pool  *pgxpool.Pool
	nats  *testkit.NATS
	js    jetstream.JetStream
	admin jetstream.JetStream
	reg   *prometheus.Registry
}

func setup(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, testkit.Database(t, schema), 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	n := testkit.StartNATS(t)
	nc, js, err := stream.Connect(n.URL(), "outbox-test", zaptest.NewLogger(t), n.ClientOptions(natsauth.Contacts)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	anc, admin, err := stream.Connect(n.URL(), "outbox-test-admin", zaptest.NewLogger(t), n.ClientOptions(natsauth.Admin)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(anc.Close)
	if err := stream.EnsureStreams(ctx, admin, stream.Topology{}, events.StreamConsent); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := outbox.RegisterBacklog(reg, pool, "contacts"); err != nil {
		t.Fatal(err)
	}
	return fixture{pool: pool, nats: n, js: js, admin: admin, reg: reg}
}

func (f fixture) queue(t *testing.T, id string, commit bool) {
	t.Helper()
	ctx := context.Background()
	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev := events.ConsentChanged{Meta: events.Meta{ID: id, Type: events.TypeConsentChanged, Version: events.VersionConsent},
		Channel: events.ChannelSMS, Address: "+12125550101", Change: events.ConsentOptedOut, Source: events.SourceOrganizer}
	if err := outbox.Add(ctx, tx, time.Now(), events.SubjectConsentChanged, id, ev); err != nil {
		t.Fatal(err)
	}
	if commit {
		err = tx.Commit(ctx)
	} else {
		err = tx.Rollback(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (f fixture) backlog(t *testing.T) float64 {
	t.Helper()
	v, err := testutil.GatherAndCount(f.reg, "muster_outbox_backlog")
	if err != nil || v != 1 {
		t.Fatalf("muster_outbox_backlog series: %d (%v)", v, err)
	}
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := mfs[0].GetMetric()[0]
	if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "service" || l[0].GetValue() != "contacts" {
		t.Fatalf("labels = %v", l)
	}
	return m.GetGauge().GetValue()
}

// stored lists the event ids the CONSENT stream holds, in order.
func (f fixture) stored(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	s, err := f.admin.Stream(ctx, events.StreamConsent)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := uint64(1); seq <= s.CachedInfo().State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

// TestCommittedEventsArePublishedOnceInOrder: events committed while no
// relay runs (a crash between commit and publish) wait in the outbox and
// the backlog gauge counts them; a rolled-back event is never published;
// a relay started afterwards publishes them in order with their ids as
// message ids and empties the outbox; the same event queued again (a
// relay that died after publishing, before deleting) is stored once.
func TestCommittedEventsArePublishedOnceInOrder(t *testing.T) {
	f := setup(t)
	f.queue(t, "ev-1", true)
	f.queue(t, "ev-rolled-back", false)
	f.queue(t, "ev-2", true)
	if n := f.backlog(t); n != 2 {
		t.Fatalf("backlog = %v, want the 2 committed events", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := outbox.NewRelay(f.pool, f.js, 10*time.Millisecond, zaptest.NewLogger(t))
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	testkit.Eventually(t, "the outbox to empty", func() bool { return f.backlog(t) == 0 })
	if got := f.stored(t); strings.Join(got, ",") != "ev-1,ev-2" {
		t.Fatalf("CONSENT holds %v, want ev-1,ev-2", got)
	}
	f.queue(t, "ev-1", true)
	r.Wake()
	testkit.Eventually(t, "the outbox to empty again", func() bool { return f.backlog(t) == 0 })
	if got := f.stored(t); strings.Join(got, ",") != "ev-1,ev-2" {
		t.Fatalf("after a second publish of ev-1 CONSENT holds %v", got)
	}
}

// TestEventsWaitWhileNATSIsDown: with NATS stopped, a committed event
// stays in the outbox (the gauge says 1) however often the relay tries;
// when NATS is back it is published and the outbox empties.
func TestEventsWaitWhileNATSIsDown(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r := outbox.NewRelay(f.pool, f.js, 10*time.Millisecond, zaptest.NewLogger(t))
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	f.nats.Stop()
	f.queue(t, "ev-down", true)
	r.Wake()
	time.Sleep(300 * time.Millisecond) // several polls with NATS down
	var left int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE msg_id = 'ev-down'`).Scan(&left); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	if left != 1 || f.backlog(t) != 1 {
		t.Fatalf("with NATS down the outbox holds %d (gauge %v), want the event kept", left, f.backlog(t))
	}
	f.nats.Start()
	testkit.Eventually(t, "the event published after NATS came back", func() bool { return f.backlog(t) == 0 })
	if got := f.stored(t); strings.Join(got, ",") != "ev-down" {
		t.Fatalf("CONSENT holds %v, want ev-down", got)
	}
}

// TestAddWithMergesTheRowItFinds: AddWith queues the event with the
// fields its query returns in place of the event's own, and queues
// nothing when the query finds no row.
func TestAddWithMergesTheRowItFinds(t *testing.T) {
	f := setup(t)
	ctx := context.Background()
	ev := events.ConsentChanged{Meta: events.Meta{ID: "ev-merged", Type: events.TypeConsentChanged, Version: events.VersionConsent},
		Channel: events.ChannelSMS, Address: "+12125550101", Change: events.ConsentOptedOut, Source: events.SourceOrganizer, Reason: "before"}
	fields := `SELECT jsonb_build_object('reason', $5::text) WHERE $6::bool`
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		if err := outbox.AddWith(ctx, tx, time.Now(), events.SubjectConsentChanged, "ev-merged", ev, fields, "merged", true); err != nil {
			return err
		}
		ev.ID = "ev-no-row"
		return outbox.AddWith(ctx, tx, time.Now(), events.SubjectConsentChanged, "ev-no-row", ev, fields, "merged", false)
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := f.pool.Query(ctx, `SELECT msg_id, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type queued struct {
		id      string
		payload []byte
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (queued, error) {
		var q queued
		return q, r.Scan(&q.id, &q.payload)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].id != "ev-merged" {
		t.Fatalf("outbox holds %+v, want ev-merged alone", got)
	}
	var back events.ConsentChanged
	if err := json.Unmarshal(got[0].payload, &back); err != nil {
		t.Fatalf("queued payload %s: %v", got[0].payload, err)
	}
	want := ev
	want.ID, want.Reason = "ev-merged", "merged"
	if back != want {
		t.Fatalf("queued %+v, want %+v", back, want)
	}
}
