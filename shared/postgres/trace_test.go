package postgres_test

import (
	"context"
	"testing"
	"testing/fstest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
	"github.com/musterhq/muster/shared/tracing"
)

// TestStatementsOfTracedWorkAreSpans: a statement run for a traced
// request is a child span carrying its text; one run with no trace (a
// poller) makes none.
func TestStatementsOfTracedWorkAreSpans(t *testing.T) {
	migrations := fstest.MapFS{"0001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (n int);\n-- +goose Down\nDROP TABLE t;\n")}}
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewSDK("test", 1, sdktrace.WithSyncer(exp))
	pool, err := postgres.OpenTraced(context.Background(), testkit.Database(t, migrations), 2, tp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	exp.Reset() // the pool's own ping

	if _, err := pool.Exec(context.Background(), "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("an untraced statement made %d spans", n)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if _, err := pool.Exec(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	parent.End()
	var stmt *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "INSERT" {
			stmt = &s
		}
	}
	if stmt == nil {
		t.Fatalf("no INSERT span among %v", exp.GetSpans())
	}
	if stmt.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("statement span's parent %s, want the request %s", stmt.Parent.SpanID(), parent.SpanContext().SpanID())
	}
	found := false
	for _, a := range stmt.Attributes {
		if a.Key == "db.query.text" && a.Value.AsString() == "INSERT INTO t VALUES (2)" {
			found = true
		}
	}
	if !found {
		t.Errorf("statement span attributes %v lack the query text", stmt.Attributes)
	}
}
