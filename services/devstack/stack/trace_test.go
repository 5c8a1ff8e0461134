package stack_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
	"github.com/musterhq/muster/shared/tracing"
)

// TestOneTextIsOneTrace follows one text from the campaign's launch to
// its delivered status callback: every hop is a span of one trace, each
// the child of the hop before it, though Twilio's callback carries no
// trace context (the simulator sends none either).
func TestOneTextIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := tracing.NewSDK("muster", 1, sdktrace.WithSyncer(exp))
	st, err := stack.Start(context.Background(), stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB:   testkit.Database(t, deliverydb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		AutoCallbacks: true, RedisPrefix: redisPrefix(t), DeliveryOptions: delivery.Options{Clock: middayClock(t)},
		Callers: svcauthtest.Trusted(), Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
		TracerProvider: tp,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	const phone = "+12125550101"
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "Ana", "phone": phone, "tags": []string{"rally"}}, nil); code != 201 {
		t.Fatalf("create contact = %d", code)
	}
	id := createCampaign(t, st, "traced", "Rally at noon, {{first_name}}")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "the text to be delivered", func() bool { return messages(t, st, id)[phone].Status == "delivered" })
	testkit.Eventually(t, "the delivered callback's span", func() bool {
		return len(spansWhere(exp.GetSpans(), "status callback", attribute.String("muster.provider_status", "delivered"))) == 1
	})

	spans := exp.GetSpans()
	one := func(name string, attrs ...attribute.KeyValue) tracetest.SpanStub {
		t.Helper()
		found := spansWhere(spans, name, attrs...)
		if len(found) != 1 {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			t.Fatalf("%d spans named %q %v, want 1; spans: %s", len(found), name, attrs, strings.Join(names, ", "))
		}
		return found[0]
	}
	launch := one("POST /campaigns/{id}/launch")
	fanout := one("fanout", attribute.String("muster.campaign_id", id))
	publish := one("publish " + events.SendSubject(events.ChannelSMS))
	consume := one("consume delivery-send")
	send := one("sms send")
	twilio := one("twilio create message")
	callback := one("status callback", attribute.String("muster.provider_status", "delivered"))
	chain := []struct {
		name          string
		child, parent tracetest.SpanStub
	}{
		{"fan-out under the launch request", fanout, launch},
		{"publish under the fan-out", publish, fanout},
		{"delivery's consumer under the publish", consume, publish},
		{"the send under the consumer", send, consume},
		{"the Twilio call under the send", twilio, send},
		{"the delivered callback under the send", callback, send},
	}
	trace := launch.SpanContext.TraceID()
	for _, c := range chain {
		if c.child.SpanContext.TraceID() != trace {
			t.Errorf("%s: span %q is in trace %s, not the launch's %s", c.name, c.child.Name, c.child.SpanContext.TraceID(), trace)
		}
		if c.child.Parent.SpanID() != c.parent.SpanContext.SpanID() {
			t.Errorf("%s: %q's parent is %s, want %q (%s)", c.name, c.child.Name, c.child.Parent.SpanID(), c.parent.Name, c.parent.SpanContext.SpanID())
		}
	}
	// The callback's own HTTP request (no trace context from Twilio) is
	// linked from the callback span.
	if len(callback.Links) != 1 || !callback.Links[0].SpanContext.IsValid() {
		t.Errorf("callback span links %v, want its HTTP request's span", callback.Links)
	}
}

// spansWhere are the spans named name that have every attribute given.
func spansWhere(spans tracetest.SpanStubs, name string, attrs ...attribute.KeyValue) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range spans {
		if s.Name != name {
			continue
		}
		ok := true
		for _, want := range attrs {
			found := false
			for _, a := range s.Attributes {
				if a == want {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}
