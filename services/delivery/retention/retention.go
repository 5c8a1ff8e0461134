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
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/retention"
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

// Purger applies a Policy to delivery's database (a shared/retention
// purger with delivery's steps).
type Purger struct {
	*retention.Purger
}

// New builds a purger on the service's clock, registering its counter,
// delivery_purged_rows_total{data}, on reg (nil registers nothing).
func New(pool *pgxpool.Pool, policy Policy, now func() time.Time, reg prometheus.Registerer, log *zap.Logger) *Purger {
	return &Purger{retention.New(pool, "delivery_purged_rows_total", policy.steps(), now, reg, log)}
}

// WithBatch sets how many rows one statement touches (tests make it
// small to see several batches).
func (p *Purger) WithBatch(n int) *Purger {
	p.Purger.WithBatch(n)
	return p
}

func (policy Policy) steps() []retention.Step {
	return []retention.Step{
		{Data: "message_bodies", Keep: policy.Bodies, Query: fmt.Sprintf(`UPDATE messages SET body = '' WHERE id IN (
			SELECT id FROM messages WHERE body <> '' AND status_rank = %d AND created_at < $1 ORDER BY created_at LIMIT $2)`, events.RankTerminal)},
		{Data: "reply_bodies", Keep: policy.Replies, Query: `UPDATE inbound_messages SET body = '' WHERE id IN (
			SELECT id FROM inbound_messages WHERE body <> '' AND received_at < $1 ORDER BY received_at LIMIT $2)`},
		{Data: "status_events", Keep: policy.StatusEvents, Query: `DELETE FROM message_events WHERE id IN (
			SELECT id FROM message_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`},
		{Data: "dead_letters", Keep: policy.DeadLetters, Query: `DELETE FROM dead_letters WHERE id IN (
			SELECT id FROM dead_letters WHERE created_at < $1 ORDER BY created_at LIMIT $2)`},
		{Data: "email_events", Keep: policy.EmailEvents, Query: `DELETE FROM email_events WHERE sg_event_id IN (
			SELECT sg_event_id FROM email_events WHERE received_at < $1 ORDER BY received_at LIMIT $2)`},
	}
}
