package app_test

import (
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
)

// A send with no clear answer is looked up at Twilio once the callback is
// overdue. One answered 500 before Twilio took it: Twilio has no record,
// so it goes back in the queue and is sent, once. The other was taken and
// then answered 503: Twilio has it, so it takes Twilio's status and is
// never sent again. No status callbacks come, so only the lookup can tell.
func TestUnknownOutcomeLookedUpAtTwilio(t *testing.T) {
	h := newHarness(t, setup{
		simConfig: func(c *sim.Config) { c.AutoCallbacks = false },
		config: func(c *app.Config) {
			c.ReconcileLookupAfter = 1500 * time.Millisecond // past TwilioTimeout (1s)
			c.ReconcileEvery = 100 * time.Millisecond
		},
	})
	refused, taken := phone(8001), phone(8002)
	h.sim.SetFaults([]sim.Fault{
		{To: refused, Kind: sim.FaultServerError, Count: 1},
		{To: taken, Kind: sim.FaultUnavailableAfterAccept, Count: 1},
	})
	h.start(nil)
	refusedKey := h.send(refused, "Vote Thursday")
	takenKey := h.send(taken, "Vote Thursday")

	h.waitStatus(refusedKey, "unknown")
	m := h.waitStatus(refusedKey, "accepted")
	if n := h.sim.SentTo(refused); n != 1 {
		t.Errorf("Twilio took %d texts for the refused send, want 1 (sent again once after the lookup)", n)
	}
	if m.ProviderID == "" {
		t.Error("the resent text has no provider id")
	}

	m = h.waitStatus(takenKey, "accepted")
	out := h.sim.Outbox()
	var sid string
	for _, msg := range out {
		if msg.To == taken {
			sid = msg.Sid
		}
	}
	if m.ProviderID != sid || sid == "" {
		t.Errorf("provider id = %q, want Twilio's %q from the lookup", m.ProviderID, sid)
	}
	never(t, "a second send of the text Twilio took", func() bool { return h.sim.SentTo(taken) > 1 }, 2*time.Second)
}
