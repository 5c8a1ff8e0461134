// Package outbox makes an event part of the PostgreSQL transaction that
// changes the state it reports: the event is written to the service's
// outbox table in that transaction, and a relay publishes it to
// JetStream afterwards, with its id as the message id, then deletes it.
// A crash anywhere means at worst a second publish, which the stream's
// duplicate window and consumers' idempotency absorb; never a lost event.
//
// Each service that uses it has this table (see its migrations):
//
//	CREATE TABLE outbox (id bigserial PRIMARY KEY, subject text NOT NULL,
//	    msg_id text NOT NULL, payload bytea NOT NULL,
//	    created_at timestamptz NOT NULL);
//
// created_at is written from the caller's clock, as every time a service
// stores is (docs/delivery.md, "One clock").
package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
)

// Execer is a transaction (or anything that runs SQL in one).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Add queues an event in the caller's transaction; at is the caller's
// clock's time.
func Add(ctx context.Context, tx Execer, at time.Time, subject, msgID string, v any) error {
	payload, err := events.Encode(v)
	if err != nil {
		return fmt.Errorf("encoding %s for the outbox: %w", subject, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (subject, msg_id, payload, created_at) VALUES ($1, $2, $3, $4)`, subject, msgID, payload, at); err != nil {
		return fmt.Errorf("queueing %s in the outbox: %w", subject, err)
	}
	return nil
}

// AddWith is Add with fields of the caller's rows merged into the event:
// fields is a query (its arguments args, numbered from $5) whose one
// column is a jsonb object, whose keys replace the event's own; the event
// is queued once for each row it returns, so a query that finds no row
// queues nothing. It lets one batch both write a row and
// queue the event that reports what only that write learns (a value it
// read in the same statement), without a round trip between them.
func AddWith(ctx context.Context, tx Execer, at time.Time, subject, msgID string, v any, fields string, args ...any) error {
	payload, err := events.Encode(v)
	if err != nil {
		return fmt.Errorf("encoding %s for the outbox: %w", subject, err)
	}
	sql := `INSERT INTO outbox (subject, msg_id, payload, created_at)
		SELECT $1, $2, convert_to((convert_from($3, 'UTF8')::jsonb || f.fields)::text, 'UTF8'), $4
		FROM (` + fields + `) AS f(fields)`
	if _, err := tx.Exec(ctx, sql, append([]any{subject, msgID, payload, at}, args...)...); err != nil {
		return fmt.Errorf("queueing %s in the outbox: %w", subject, err)
	}
	return nil
}

// Relay publishes what the outbox holds.
type Relay struct {
	pool *pgxpool.Pool
	js   jetstream.JetStream
	log  *zap.Logger
	poll time.Duration
	wake chan struct{}
}

// NewRelay builds a relay that looks every poll, and at once on Wake.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, poll time.Duration, log *zap.Logger) *Relay {
	if poll <= 0 {
		poll = time.Second
	}
	return &Relay{pool: pool, js: js, log: log, poll: poll, wake: make(chan struct{}, 1)}
}

// Wake asks the relay to publish now (a transaction that queued an event
// has committed).
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends. Any number of replicas may run one: each
// batch is locked with SKIP LOCKED.
func (r *Relay) Run(ctx context.Context) {
	failing := false
	for {
		n, err := r.flush(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing { // once per outage, not once per poll
				r.log.Warn("outbox relay failing; events wait in the outbox", zap.Error(err))
			}
			failing = true
		case err == nil:
			failing = false
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-time.After(r.poll):
		}
	}
}

type row struct {
	id      int64
	subject string
	msgID   string
	payload []byte
}

// flush publishes one batch and deletes it in the same transaction; a
// publish that fails rolls the batch back to be tried again.
func (r *Relay) flush(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, subject, msg_id, payload FROM outbox ORDER BY id LIMIT 500 FOR UPDATE SKIP LOCKED`)
		if err != nil {
			return fmt.Errorf("reading outbox: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(rr pgx.CollectableRow) (row, error) {
			var x row
			err := rr.Scan(&x.id, &x.subject, &x.msgID, &x.payload)
			return x, err
		})
		if err != nil || len(batch) == 0 {
			return err
		}
		futures := make([]jetstream.PubAckFuture, len(batch))
		ids := make([]int64, len(batch))
		for i, x := range batch {
			if futures[i], err = r.js.PublishAsync(x.subject, x.payload, jetstream.WithMsgID(x.msgID)); err != nil {
				return fmt.Errorf("publishing %s: %w", x.subject, err)
			}
			ids[i] = x.id
		}
		deadline := time.After(10 * time.Second)
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("publishing from the outbox: %w", err)
			case <-deadline:
				return fmt.Errorf("publishing from the outbox: no acknowledgement in 10s")
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbox WHERE id = ANY($1)`, ids); err != nil {
			return fmt.Errorf("clearing outbox: %w", err)
		}
		n = len(batch)
		return nil
	})
	return n, err
}

// RegisterBacklog exports muster_outbox_backlog{service}: the events in
// the service's outbox not yet published, counted at each scrape. It
// stays above 0 only while the relay cannot publish (NATS down, a stream
// missing): events wait, none is lost, but nothing downstream hears of
// them (docs/operations.md, MusterOutboxBacklog).
func RegisterBacklog(reg prometheus.Registerer, pool *pgxpool.Pool, service string) error {
	b := backlog{pool: pool, desc: prometheus.NewDesc("muster_outbox_backlog",
		"Events in the service's transactional outbox not yet published to JetStream.", nil, prometheus.Labels{"service": service})}
	if err := reg.Register(b); err != nil {
		return fmt.Errorf("registering the outbox backlog gauge: %w", err)
	}
	return nil
}

type backlog struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

func (b backlog) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var n int64
	if err := b.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&n); err != nil {
		ch <- prometheus.NewInvalidMetric(b.desc, fmt.Errorf("counting the outbox: %w", err))
		return
	}
	ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, float64(n))
}
