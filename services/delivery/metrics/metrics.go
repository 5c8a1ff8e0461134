// Package metrics is what delivery tells Prometheus: messages by status
// and provider, provider latency, rate-limit waits, deferrals by reason.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are delivery's collectors, registered on the service's own
// registry (never the global one).
type Metrics struct {
	Messages        *prometheus.CounterVec
	ProviderLatency *prometheus.HistogramVec
	RateLimitWait   prometheus.Histogram
	Deferrals       *prometheus.CounterVec
}

// New registers the collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_messages_total", Help: "Messages that reached a status, by status and provider.",
		}, []string{"status", "provider"}),
		ProviderLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "delivery_provider_seconds", Help: "Provider API call latency, by provider and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider", "outcome"}),
		RateLimitWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "delivery_rate_limit_wait_seconds", Help: "Time a send waited for rate-limit room.",
			Buckets: []float64{0, .01, .05, .1, .5, 1, 5, 30},
		}),
		Deferrals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_deferrals_total", Help: "Messages held for later, by reason.",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.Messages, m.ProviderLatency, m.RateLimitWait, m.Deferrals)
	return m
}
