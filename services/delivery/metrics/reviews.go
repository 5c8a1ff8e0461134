package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reviews exposes the possible opt-outs waiting for an organizer, read at
// scrape time: delivery_optout_reviews{state="open"} and
// {state="due_soon"} (within 2 business days of the deadline, or past
// it), so an operator can alert before reviews start counting as
// opt-outs undecided. count is the store's ReviewCounts on the service's
// clock; -1 when it cannot be read.
func Reviews(reg prometheus.Registerer, count func(ctx context.Context) (open, dueSoon int, err error)) {
	read := func(dueSoon bool) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			open, soon, err := count(ctx)
			switch {
			case err != nil:
				return -1
			case dueSoon:
				return float64(soon)
			default:
				return float64(open)
			}
		}
	}
	for state, soon := range map[string]bool{"open": false, "due_soon": true} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "delivery_optout_reviews", Help: "Possible opt-outs waiting for an organizer's decision: all open, and those due within 2 business days.",
			ConstLabels: prometheus.Labels{"state": state},
		}, read(soon)))
	}
}
