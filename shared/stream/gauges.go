package stream

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/musterhq/muster/shared/events"
)

// Gauges tells Prometheus how far behind a service's consumers are: at
// each scrape it asks JetStream, for every consumer the service runs, how
// many messages wait (pending), how many were handed out and not yet
// answered (ack pending) and how many of those are redeliveries, and how
// many of the consumer's messages lie in the dead-letter stream. What
// JetStream cannot tell at that moment is left out of the scrape (with
// muster_jetstream_consumer_up at 0), never reported as a number it is
// not.
type Gauges struct {
	js      jetstream.JetStream
	timeout time.Duration

	mu        sync.Mutex
	consumers []consumerRef

	up, pending, ackPending, redelivered, deadLetters *prometheus.Desc
}

type consumerRef struct{ stream, durable string }

// NewGauges reads consumer state through js; register it on the service's
// registry and Watch each consumer as it starts.
func NewGauges(js jetstream.JetStream) *Gauges {
	labels := []string{"stream", "consumer"}
	return &Gauges{
		js: js, timeout: 2 * time.Second,
		up: prometheus.NewDesc("muster_jetstream_consumer_up",
			"1 when JetStream answered for the consumer at this scrape, 0 when it did not (its other series are then absent).", labels, nil),
		pending: prometheus.NewDesc("muster_jetstream_consumer_pending_messages",
			"Messages in the stream the consumer has not been handed yet: its lag.", labels, nil),
		ackPending: prometheus.NewDesc("muster_jetstream_consumer_ack_pending_messages",
			"Messages handed to the consumer and not yet acknowledged.", labels, nil),
		redelivered: prometheus.NewDesc("muster_jetstream_consumer_redelivered_messages",
			"Messages handed out more than once and not yet acknowledged.", labels, nil),
		deadLetters: prometheus.NewDesc("muster_dead_letters",
			"Messages the consumer gave up on, kept in the DEADLETTER stream for an operator.", []string{"consumer"}, nil),
	}
}

// Watch adds a consumer to the scrape.
func (g *Gauges) Watch(stream, durable string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.consumers {
		if c.stream == stream && c.durable == durable {
			return
		}
	}
	g.consumers = append(g.consumers, consumerRef{stream, durable})
}

// Describe implements prometheus.Collector.
func (g *Gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{g.up, g.pending, g.ackPending, g.redelivered, g.deadLetters} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *Gauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	consumers := append([]consumerRef(nil), g.consumers...)
	g.mu.Unlock()
	if len(consumers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	for _, c := range consumers {
		info, err := g.consumerInfo(ctx, c)
		if err != nil {
			ch <- prometheus.MustNewConstMetric(g.up, prometheus.GaugeValue, 0, c.stream, c.durable)
			continue
		}
		ch <- prometheus.MustNewConstMetric(g.up, prometheus.GaugeValue, 1, c.stream, c.durable)
		ch <- prometheus.MustNewConstMetric(g.pending, prometheus.GaugeValue, float64(info.NumPending), c.stream, c.durable)
		ch <- prometheus.MustNewConstMetric(g.ackPending, prometheus.GaugeValue, float64(info.NumAckPending), c.stream, c.durable)
		ch <- prometheus.MustNewConstMetric(g.redelivered, prometheus.GaugeValue, float64(info.NumRedelivered), c.stream, c.durable)
	}
	stored, err := g.deadLettered(ctx)
	if err != nil {
		return
	}
	for _, c := range consumers {
		ch <- prometheus.MustNewConstMetric(g.deadLetters, prometheus.GaugeValue,
			float64(stored[events.SubjectDeadLetterPrefix+c.durable]), c.durable)
	}
}

func (g *Gauges) consumerInfo(ctx context.Context, c consumerRef) (*jetstream.ConsumerInfo, error) {
	cons, err := g.js.Consumer(ctx, c.stream, c.durable)
	if err != nil {
		return nil, err
	}
	return cons.Info(ctx)
}

// deadLettered counts the dead letters stored per subject.
func (g *Gauges) deadLettered(ctx context.Context) (map[string]uint64, error) {
	s, err := g.js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(events.SubjectDeadLetterPrefix+">"))
	if err != nil {
		return nil, err
	}
	return info.State.Subjects, nil
}
