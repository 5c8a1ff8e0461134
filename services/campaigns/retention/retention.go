// Package retention is campaigns' purge (shared/retention): members'
// replies in the inbox that organizers handled, with the organizers'
// answers to them, are deleted once handled more than the retention ago,
// and the replies kept on campaigns are blanked as long after they came.
// Open inbox items, campaigns, their numbers and members' answers (RSVPs,
// signatures, poll answers: a campaign's results) are not purged.
package retention

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/retention"
)

// New builds campaigns' purger: handled inbox items and replies kept for
// keep (zero: for ever). Its counter is campaigns_purged_rows_total{data}.
func New(pool *pgxpool.Pool, keep time.Duration, now func() time.Time, reg prometheus.Registerer, log *zap.Logger) *retention.Purger {
	return retention.New(pool, "campaigns_purged_rows_total", []retention.Step{
		{Data: "inbox_answers", Keep: keep, Query: `DELETE FROM inbox_replies WHERE id IN (
			SELECT r.id FROM inbox_replies r JOIN inbox i ON i.id = r.inbox_id WHERE i.handled_at < $1 LIMIT $2)`},
		{Data: "inbox_items", Keep: keep, Query: `DELETE FROM inbox WHERE id IN (
			SELECT id FROM inbox i WHERE handled_at < $1
				AND NOT EXISTS (SELECT 1 FROM inbox_replies r WHERE r.inbox_id = i.id)
			ORDER BY handled_at LIMIT $2)`},
		{Data: "reply_bodies", Keep: keep, Query: `UPDATE campaign_replies SET body = '' WHERE event_id IN (
			SELECT event_id FROM campaign_replies WHERE body <> '' AND received_at < $1 ORDER BY received_at LIMIT $2)`},
	}, now, reg, log)
}
