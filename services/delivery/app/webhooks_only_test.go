package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
)

// Delivery with sending off (DELIVERY_SEND=false) takes members' STOPs and
// is ready, but sends nothing: its send requests wait in the stream for a
// sending replica, which then texts everyone but the member who stopped
// and sends the email.
func TestWebhookOnlyDeliverySendsNothing(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.Send = false }})
	h.start(nil)
	stopped, other := "+12125550141", "+12125550142"
	toStopped := h.send(stopped, "Rally tonight")
	toOther := h.send(other, "Rally tonight")
	mail := h.email("member@example.org", "Rally tonight", "See you there")

	res, err := h.sim.SendReply(context.Background(), sim.Reply{From: stopped, To: "+15550001111", Body: "STOP"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("STOP = %+v, %v", res, err)
	}
	if code := h.readyz("/readyz"); code != 200 {
		t.Errorf("/readyz of a delivery that does not send = %d, want 200", code)
	}
	// The STOP is recorded (it is in the log of conversations) while the
	// three requests are still unread: none is in the message log.
	var conv struct {
		Turns []struct{ Direction, Keyword string } `json:"turns"`
	}
	if code := h.get("/conversations/sms/"+stopped, &conv); code != 200 || len(conv.Turns) != 1 || conv.Turns[0].Keyword != "opt_out" {
		t.Fatalf("the stopped member's conversation = %d %+v, want their STOP alone", code, conv.Turns)
	}
	// Nothing reads the send requests: neither send consumer exists.
	for _, durable := range []string{"delivery-send", "delivery-send-email"} {
		if _, err := h.js.Consumer(context.Background(), events.StreamSend, durable); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Errorf("consumer %s: %v, want it not found", durable, err)
		}
	}
	for _, key := range []string{toStopped, toOther, mail} {
		if m, found := h.message(key); found {
			t.Errorf("a delivery that does not send recorded %s as %s", key, m.Status)
		}
	}

	sending := h.cfg
	sending.Send = true
	sending.HTTPAddr = "127.0.0.1:0"
	h.startWith(sending)
	h.waitStatus(toOther, "delivered")
	h.waitStatus(mail, "delivered")
	h.waitStatus(toStopped, "suppressed")
	if n := h.sim.SentTo(stopped); n != 0 {
		t.Errorf("%d texts reached the member who stopped", n)
	}
	if n := h.sim.SentTo(other); n != 1 {
		t.Errorf("the other member got %d texts, want 1", n)
	}
}
