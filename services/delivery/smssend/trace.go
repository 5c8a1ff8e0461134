package smssend

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/tracing"
)

// tracerName names the spans the worker makes.
const tracerName = "github.com/musterhq/muster/services/delivery/smssend"

// startSend starts the span of one text's provider call and, when it is
// sampled, remembers it on the message before the call: Twilio's status
// callbacks carry no trace context, and one may arrive before the call
// returns. Untraced, it does nothing.
func (w *Worker) startSend(ctx context.Context, msg store.Message) (context.Context, trace.Span) {
	if w.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	ctx, span := w.tracer.Start(ctx, "sms send", trace.WithAttributes(
		attribute.String("muster.message_id", msg.ID), attribute.String("muster.provider", w.cfg.Provider)))
	if tp := tracing.Traceparent(ctx); tp != "" {
		if _, err := w.traces.Do(ctx, store.Trace{MessageID: msg.ID, Traceparent: tp}); err != nil {
			// The text still goes; only its callbacks start traces of their own.
			w.log.Warn("trace not remembered for the status callbacks", zap.String("message_id", msg.ID), tracing.ID(ctx), zap.Error(err))
		}
	}
	return ctx, span
}

// rememberBatch keeps many sends' traces in one statement: a write per
// text would cost a commit per text.
func (w *Worker) rememberBatch(ctx context.Context, traces []store.Trace) ([]struct{}, error) {
	if err := w.store.RememberTraces(ctx, traces); err != nil {
		return nil, err
	}
	return make([]struct{}, len(traces)), nil
}
