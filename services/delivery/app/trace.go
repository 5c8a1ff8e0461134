package app

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/provider/twilio"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/tracing"
)

// tracedStatus continues a text's trace in its status callbacks. Twilio
// sends no trace context, so the send's span, remembered on the message
// (worker), is the callback span's parent; the callback's own HTTP span
// is linked.
type tracedStatus struct {
	twilio.Receiver
	store  *store.Store
	tracer trace.Tracer
	log    *zap.Logger
}

// traceStatus wraps recv when tracing is on.
func traceStatus(recv twilio.Receiver, st *store.Store, tp trace.TracerProvider, log *zap.Logger) twilio.Receiver {
	if tp == nil {
		return recv
	}
	return tracedStatus{Receiver: recv, store: st, tracer: tp.Tracer("github.com/musterhq/muster/services/delivery/app"), log: log}
}

func (t tracedStatus) Status(ctx context.Context, cb provider.StatusReport) error {
	link := trace.LinkFromContext(ctx)
	parent, err := t.store.Trace(ctx, cb.MessageID, cb.ProviderID)
	if err != nil {
		t.log.Warn("status callback traced on its own: the send's trace was not read", tracing.ID(ctx), zap.Error(err))
	}
	ctx, span := t.tracer.Start(tracing.FromTraceparent(ctx, parent), "status callback", trace.WithLinks(link),
		trace.WithAttributes(attribute.String("muster.message_id", cb.MessageID), attribute.String("muster.provider_id", cb.ProviderID),
			attribute.String("muster.provider_status", cb.ProviderStatus)))
	defer span.End()
	if err := t.Receiver.Status(ctx, cb); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "status not applied")
		return err
	}
	return nil
}
