// Package retention is the console's purge (shared/retention): audit
// entries older than the audit retention, and API tokens and emailed
// account links that expired or were revoked longer ago than the token
// retention, are deleted. Expired sessions are swept hourly apart (the
// store's ExpireSessions). Organizers' accounts are not purged.
package retention

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/retention"
)

// Policy says how long the console keeps what; zero keeps it for ever.
type Policy struct {
	// Audit: the audit log's entries.
	Audit time.Duration
	// Tokens: API tokens and account links after they expired, were
	// revoked or used.
	Tokens time.Duration
}

// New builds the console's purger; its counter is
// console_purged_rows_total{data}.
func New(pool *pgxpool.Pool, p Policy, now func() time.Time, reg prometheus.Registerer, log *zap.Logger) *retention.Purger {
	return retention.New(pool, "console_purged_rows_total", []retention.Step{
		{Data: "audit_entries", Keep: p.Audit, Query: `DELETE FROM audit_log WHERE id IN (
			SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)`},
		{Data: "api_tokens", Keep: p.Tokens, Query: `DELETE FROM api_tokens WHERE id IN (
			SELECT id FROM api_tokens WHERE coalesce(revoked_at, expires_at) < $1 LIMIT $2)`},
		{Data: "account_links", Keep: p.Tokens, Query: `DELETE FROM account_links WHERE token_hash IN (
			SELECT token_hash FROM account_links WHERE coalesce(used_at, expires_at) < $1 LIMIT $2)`},
	}, now, reg, log)
}
