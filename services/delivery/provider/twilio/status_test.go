package twilio

import (
	"testing"

	"github.com/musterhq/muster/services/delivery/status"
)

func TestStatusMapsTwilioWordsToOurs(t *testing.T) {
	for in, want := range map[string]status.Status{"queued": status.Accepted, "sent": status.Sent, "delivered": status.Delivered,
		"undelivered": status.Undelivered, "failed": status.Failed, "canceled": status.Cancelled} {
		got, ok := Status(in)
		if !ok || got != want {
			t.Errorf("Status(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if _, ok := Status("received"); ok {
		t.Error("an inbound status mapped to an outbound one")
	}
}
