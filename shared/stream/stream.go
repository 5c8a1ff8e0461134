// Package stream is Muster's JetStream plumbing: connecting, declaring the
// streams every service relies on, publishing events with their id as the
// dedupe key, and the one consumer runner that owns ack, retry and
// dead-lettering so handlers only say what happened.
package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/tracing"
)

// Connect dials NATS and keeps reconnecting for as long as the process
// lives: a broker restart pauses work, it never ends the service. opts
// say who connects (natsauth.ClientOptions): every Muster server refuses
// an anonymous client.
func Connect(url, name string, log *zap.Logger, opts ...nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	opts = append([]nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("nats reconnected", zap.String("url", c.ConnectedUrlRedacted()))
		}),
		// A permissions violation is a publish or subscribe the server
		// dropped: a bug or a permission table out of step with the code.
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				log.Error("nats refused an operation", zap.Error(err))
				return
			}
			log.Warn("nats error", zap.Error(err))
		}),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("opening jetstream: %w", err)
	}
	return nc, js, nil
}

// Topology says how streams are stored. Replicas is 1 on one server and 3
// on a three-node cluster.
type Topology struct {
	Replicas int
}

// eventsKeptFor is how long the CONSENT and RHYTHM streams keep an event
// their consumers have long applied.
const eventsKeptFor = 30 * 24 * time.Hour

// StreamConfigs are the streams Muster needs. SEND is a work queue: a send
// request is removed once delivery acknowledged it. The others keep history
// so several services can each read every event.
func StreamConfigs(t Topology) []jetstream.StreamConfig {
	replicas := max(t.Replicas, 1)
	return []jetstream.StreamConfig{
		{
			// Send requests from campaigns, and those an operator retried
			// from delivery's dead letters.
			Name: events.StreamSend, Subjects: []string{events.SubjectSendAll, events.SubjectRetryAll},
			Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, Duplicates: 10 * time.Minute,
		},
		{
			Name: events.StreamMessages, Subjects: []string{events.SubjectMessagesAll},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, Duplicates: 10 * time.Minute, MaxAge: 14 * 24 * time.Hour,
		},
		{
			// Consent changes carry members' addresses. Contacts' ledger
			// and delivery's suppression list keep them for good; the
			// stream only carries them there, so it keeps them 30 days
			// (as long as a dead letter): an erased member's address
			// leaves JetStream by then, and a consumer stopped for longer
			// has long been alerted on (MusterConsumerLagGrowing).
			Name: events.StreamConsent, Subjects: []string{events.SubjectConsentChanged},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, Duplicates: 10 * time.Minute, MaxAge: eventsKeptFor,
		},
		{
			// Members' own rhythm, for contacts' member page; kept as
			// long as consent changes, for the same reasons.
			Name: events.StreamRhythm, Subjects: []string{events.SubjectRhythmChanged},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, Duplicates: 10 * time.Minute, MaxAge: eventsKeptFor,
		},
		{
			// Erasures, kept until campaigns and delivery have both
			// acknowledged them: a service that is down when a member is
			// erased finds the event on its durable consumer when it is
			// back, and no address stays in the stream after that.
			Name: events.StreamErasure, Subjects: []string{events.SubjectContactErased},
			Retention: jetstream.InterestPolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, Duplicates: 10 * time.Minute,
		},
		{
			// Campaign steps' email content, one message per content
			// hash (a republish of the same content replaces it with
			// itself). Read by subject with direct gets, so AllowDirect.
			// Kept 60 days: longer than a dead letter (30) an operator may
			// retry, which still names its content.
			Name: events.StreamContent, Subjects: []string{events.SubjectContentAll},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, Duplicates: 10 * time.Minute, MaxAge: 60 * 24 * time.Hour,
			MaxMsgsPerSubject: 1, AllowDirect: true,
		},
		{
			Name: events.StreamDeadLetter, Subjects: []string{events.SubjectDeadLetterPrefix + ">"},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
			Replicas: replicas, MaxAge: eventsKeptFor,
		},
	}
}

// EnsureStreams creates or updates the streams named (every stream when
// none is); each service declares those it publishes to or consumes from
// (natsauth.User.Streams) at start-up, so the order services start in
// does not matter.
//
// On a fresh cluster, replicas starting together can each time out while
// the cluster elects the new stream's leader; a timeout is retried (for
// up to a minute, or ctx) rather than ending the service.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, t Topology, names ...string) error {
	for _, cfg := range StreamConfigs(t) {
		if len(names) > 0 && !slices.Contains(names, cfg.Name) {
			continue
		}
		deadline := time.Now().Add(time.Minute)
		for delay := 250 * time.Millisecond; ; delay = min(delay*2, 4*time.Second) {
			callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := js.CreateOrUpdateStream(callCtx, cfg)
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || time.Now().After(deadline) {
				return fmt.Errorf("declaring stream %s: %w", cfg.Name, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("declaring stream %s: %w", cfg.Name, ctx.Err())
			case <-time.After(delay):
			}
		}
	}
	return nil
}

// Publish sends v as JSON to subject and waits for JetStream to store it.
// id becomes the Nats-Msg-Id: publishing the same id again inside the
// stream's duplicate window stores nothing new.
func Publish(ctx context.Context, js jetstream.JetStream, subject, id string, v any) error {
	data, err := events.Encode(v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", subject, err)
	}
	ctx, span := StartPublish(ctx, subject)
	defer span.End()
	msg := &nats.Msg{Subject: subject, Data: data}
	tracing.Inject(ctx, msg)
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(id)); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return fmt.Errorf("publishing %s: %w", subject, err)
	}
	return nil
}

// StartPublish starts a producer span for a message to subject, with the
// provider of the span already in ctx: a publish from a traced request or
// message is a child of it, and one from an untraced loop is a no-op.
// Inject the returned context into the message (tracing.Inject).
func StartPublish(ctx context.Context, subject string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, parent
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject)))
}

// tracerName names the spans this package makes.
const tracerName = "github.com/musterhq/muster/shared/stream"

// PublishEventually retries Publish until it succeeds or ctx ends: for an
// event that must not be lost after the state change it reports was
// committed (a broker restart is a pause, not a loss).
func PublishEventually(ctx context.Context, js jetstream.JetStream, subject, id string, v any) error {
	delay := 50 * time.Millisecond
	for {
		err := Publish(ctx, js, subject, id, v)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}
