package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// queryTracer makes a span for each statement run on behalf of a traced
// request or message. Statements with no span in their context (pollers,
// sweepers) start no trace of their own: they would bury the traces that
// matter under one per poll.
type queryTracer struct {
	tracer trace.Tracer
}

type spanKey struct{}

// NewQueryTracer is a pgx.QueryTracer making spans with tp.
func NewQueryTracer(tp trace.TracerProvider) pgx.QueryTracer {
	return queryTracer{tracer: tp.Tracer("github.com/musterhq/muster/shared/postgres")}
}

func (t queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	ctx, span := t.tracer.Start(ctx, spanName(data.SQL), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", data.SQL)))
	return context.WithValue(ctx, spanKey{}, span)
}

func (t queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	span, ok := ctx.Value(spanKey{}).(trace.Span)
	if !ok {
		return
	}
	if data.Err != nil {
		span.RecordError(data.Err)
		span.SetStatus(codes.Error, "statement failed")
	}
	span.SetAttributes(attribute.Int64("db.response.returned_rows", data.CommandTag.RowsAffected()))
	span.End()
}

// spanName is the statement's first keyword (SELECT, INSERT, WITH...), a
// low-cardinality name; the whole text is an attribute.
func spanName(sql string) string {
	f := strings.Fields(sql)
	if len(f) == 0 {
		return "sql"
	}
	return strings.ToUpper(f[0])
}
