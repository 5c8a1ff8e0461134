// Package metrics is what delivery tells Prometheus: messages by status
// and provider, provider latency, rate-limit waits, deferrals by reason.
package metrics

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/musterhq/muster/services/delivery/status"
)

// Metrics are delivery's collectors, registered on the service's own
// registry (never the global one).
type Metrics struct {
	// Messages and Failures count what the message log records (the
	// store reports each move, see Count), so they agree with it.
	Messages        *prometheus.CounterVec
	Failures        *prometheus.CounterVec
	ProviderLatency *prometheus.HistogramVec
	RateLimitWait   prometheus.Histogram
	Deferrals       *prometheus.CounterVec
	// AuthFailures and Paused are the credential alarm: a provider
	// refused our credentials (401, 403) and the channel's sending is
	// paused until a probe goes through (package pause).
	AuthFailures *prometheus.CounterVec
	Paused       *prometheus.GaugeVec
}

// New registers the collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_messages_total",
			Help: "Messages the log moved to a status past the hand-over to the provider (unknown, accepted, sent, and each final status), by channel and provider.",
		}, []string{"channel", "provider", "status"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_message_failures_total",
			Help: "Messages that ended undelivered, failed, suppressed or expired, by the error code the log holds (\"none\" without one), channel and provider.",
		}, []string{"channel", "provider", "status", "error_code"}),
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
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "delivery_provider_auth_failures_total", Help: "Sends a provider refused for our credentials (401, 403), by provider.",
		}, []string{"provider"}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "delivery_sending_paused", Help: "1 while a channel's sending is paused because its provider refuses our credentials.",
		}, []string{"channel"}),
	}
	reg.MustRegister(m.Messages, m.Failures, m.ProviderLatency, m.RateLimitWait, m.Deferrals, m.AuthFailures, m.Paused)
	return m
}

// Count records one move of the message log: provider names the channel's
// provider ("twilio", "sendgrid").
func (m *Metrics) Count(channel, provider string, st status.Status, errorCode string) {
	m.Messages.WithLabelValues(channel, provider, string(st)).Inc()
	if st.Terminal() && st != status.Delivered && st != status.Cancelled {
		if errorCode == "" {
			errorCode = "none"
		}
		m.Failures.WithLabelValues(channel, provider, string(st), errorCode).Inc()
	}
}

// QueueDepth reports how many messages of send requests wait on a
// consumer (not yet delivered, or delivered and not yet answered), read
// from JetStream at each scrape. Campaigns packs up to a hundred requests
// in a message (stream.BatchWriter), so this is the queue's size in
// messages, not texts; it is 0 exactly when nothing waits. When JetStream cannot say, the scrape has no sample rather
// than a made-up number (muster_jetstream_consumer_up says why).
func QueueDepth(reg prometheus.Registerer, js jetstream.JetStream, stream, durable, channel string) {
	reg.MustRegister(queueDepth{js: js, stream: stream, durable: durable, desc: prometheus.NewDesc(
		"delivery_queue_depth", "Messages of send requests (up to 100 requests each) waiting in JetStream, by channel.", nil, prometheus.Labels{"channel": channel})})
}

type queueDepth struct {
	js              jetstream.JetStream
	stream, durable string
	desc            *prometheus.Desc
}

func (q queueDepth) Describe(ch chan<- *prometheus.Desc) { ch <- q.desc }

func (q queueDepth) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := q.js.Consumer(ctx, q.stream, q.durable)
	if err != nil {
		return
	}
	info, err := c.Info(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(q.desc, prometheus.GaugeValue, float64(info.NumPending)+float64(info.NumAckPending))
}
