// Package retention keeps a service's data only as long as it is needed:
// each Step deletes (or blanks) a batch of one kind of data older than
// its period, and the Purger runs the steps batch by batch, each batch
// its own short statement, so it never holds a lock that sending or a
// page waits on for long. Every service's purge is one Purger with its
// own steps (docs/operations.md, "Retention").
package retention

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/web"
)

// Step is one kind of data. Query purges at most $2 rows older than $1
// and reports them as rows affected; Func does the same for data that is
// not in the database (files). Keep zero keeps the data for ever.
type Step struct {
	Data  string
	Keep  time.Duration
	Query string
	Func  func(ctx context.Context, cutoff time.Time, batch int) (int64, error)
}

// Purger applies steps to one service's data.
type Purger struct {
	pool   *pgxpool.Pool
	steps  []Step
	now    func() time.Time
	batch  int
	purged *prometheus.CounterVec
	log    *zap.Logger
}

// New builds a purger on the service's clock, counting what it does in
// the counter metric (e.g. contacts_purged_rows_total{data}) registered
// on reg (nil registers nothing).
func New(pool *pgxpool.Pool, metric string, steps []Step, now func() time.Time, reg prometheus.Registerer, log *zap.Logger) *Purger {
	p := &Purger{pool: pool, steps: steps, now: now, batch: 1000, log: log,
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metric,
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

// Once purges everything past its period, batch by batch, and returns how
// many rows of each kind it touched.
func (p *Purger) Once(ctx context.Context) (map[string]int64, error) {
	now := p.now()
	done := map[string]int64{}
	for _, s := range p.steps {
		if s.Keep <= 0 {
			continue
		}
		cutoff := now.Add(-s.Keep)
		for {
			var n int64
			if s.Func != nil {
				var err error
				if n, err = s.Func(ctx, cutoff, p.batch); err != nil {
					return done, fmt.Errorf("purging %s older than %s: %w", s.Data, cutoff.Format(time.RFC3339), err)
				}
			} else {
				tag, err := p.pool.Exec(ctx, s.Query, cutoff, p.batch)
				if err != nil {
					return done, fmt.Errorf("purging %s older than %s: %w", s.Data, cutoff.Format(time.RFC3339), err)
				}
				n = tag.RowsAffected()
			}
			done[s.Data] += n
			p.purged.WithLabelValues(s.Data).Add(float64(n))
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

// Handler is the operator's POST /purge (`muster purge-now`): it runs
// the purge once, now, and answers what it did, {"purged": {data: rows}}.
// Mounted behind the service's guard like every other route.
func (p *Purger) Handler(log *zap.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		done, err := p.Once(r.Context())
		if err != nil {
			web.WriteError(w, r, log, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"purged": done})
	}
}
