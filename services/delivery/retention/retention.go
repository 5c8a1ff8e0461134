// Package retention keeps delivery's data only as long as it is needed:
// message and reply bodies are blanked, and status reports, dead letters
// and SendGrid's event ids deleted, once they are older than the
// configured periods. It works in small batches, each its own short
// statement, so it never holds a lock sending waits on for long.
//
// What is never purged here: a message's row (its idempotency key is what
// stops a text being sent twice, its status what results count), the
// suppression list and the consent evidence on it. A message's body is
// blanked only once the message has ended (delivered, failed, …): a text
// still waiting keeps what it will say.
package retention

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
)

// Policy says how long each kind of data is kept; zero keeps it for ever.
type Policy struct {
	// Bodies: what an ended message said.
	Bodies time.Duration
	// Replies: what members texted or emailed us (the consent ledger and
	// the suppression list keep the words that changed consent).
	Replies time.Duration
	// StatusEvents: every status report a provider sent.
	StatusEvents time.Duration
	// DeadLetters: the copies of messages a consumer gave up on.
	DeadLetters time.Duration
	// EmailEvents: SendGrid event ids kept to drop repeats (SendGrid
	// retries for up to 72 hours).
	EmailEvents time.Duration
}

// Purger applies a Policy to delivery's database.
type Purger struct {
	pool   *pgxpool.Pool
	policy Policy
	now    func() time.Time
	batch  int
	purged *prometheus.CounterVec
	log    *zap.Logger
}

// New builds a purger on the service's clock, registering its counter on
// reg (nil registers nothing).
func New(pool *pgxpool.Pool, policy Policy, now func() time.Time, reg prometheus.Registerer, log *zap.Logger) *Purger {
	p := &Purger{pool: pool, policy: policy, now: now, batch: 1000, log: log,
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_purged_rows_total",
			Help: "Rows the retention purge deleted or blanked, by what they held.",
		}, []string{"data"})}
	if reg != nil {
		reg.MustRegister(p.purged)
	}
	return p
}

// WithBatch sets how many rows one statement touches (tests make it
// small to see several batches).
func (p *Purger) WithBatch(n int) *Purger {
	p.batch = n
	return p
}

// step is one kind of data and the statement that purges a batch of it
// older than $1, at most $2 rows.
type step struct {
	data  string
	keep  time.Duration
	query string
}

func (p *Purger) steps() []step {
	return []step{
		{"message_bodies", p.policy.Bodies, fmt.Sprintf(`UPDATE messages SET body = '' WHERE id IN (
			SELECT id FROM messages WHERE body <> '' AND status_rank = %d AND created_at < $1 ORDER BY created_at LIMIT $2)`, events.RankTerminal)},
		{"reply_bodies", p.policy.Replies, `UPDATE inbound_messages SET body = '' WHERE id IN (
			SELECT id FROM inbound_messages WHERE body <> '' AND received_at < $1 ORDER BY received_at LIMIT $2)`},
		{"status_events", p.policy.StatusEvents, `DELETE FROM message_events WHERE id IN (
			SELECT id FROM message_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`},
		{"dead_letters", p.policy.DeadLetters, `DELETE FROM dead_letters WHERE id IN (
			SELECT id FROM dead_letters WHERE created_at < $1 ORDER BY created_at LIMIT $2)`},
		{"email_events", p.policy.EmailEvents, `DELETE FROM email_events WHERE sg_event_id IN (
			SELECT sg_event_id FROM email_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`},
	}
}

// Once purges everything past its period, batch by batch, and returns how
// many rows of each kind it touched.
func (p *Purger) Once(ctx context.Context) (map[string]int64, error) {
	now := p.now()
	done := map[string]int64{}
	for _, s := range p.steps() {
		if s.keep <= 0 {
			continue
		}
		cutoff := now.Add(-s.keep)
		for {
			tag, err := p.pool.Exec(ctx, s.query, cutoff, p.batch)
			if err != nil {
				return done, fmt.Errorf("purging %s older than %s: %w", s.data, cutoff.Format(time.RFC3339), err)
			}
			n := tag.RowsAffected()
			done[s.data] += n
			p.purged.WithLabelValues(s.data).Add(float64(n))
			if n < int64(p.batch) {
				break
			}
			if err := ctx.Err(); err != nil {
				return done, err
			}
		}
	}
	return done, nil
}

// Run purges every interval until ctx ends. A failed purge is logged and
// tried again at the next interval; nothing depends on it having run.
func (p *Purger) Run(ctx context.Context, every time.Duration) {
	for {
		done, err := p.Once(ctx)
		if err != nil && ctx.Err() == nil {
			p.log.Warn("retention purge stopped early; trying again later", zap.Error(err))
		} else if total(done) > 0 {
			p.log.Info("retention purge", zap.Any("rows", done))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
