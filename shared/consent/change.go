package consent

import (
	"time"

	"github.com/musterhq/muster/shared/events"
)

// Change is one consent change to record and announce.
type Change struct {
	Channel events.Channel
	Address string
	// Change is events.ConsentOptedOut, ConsentSubscribed and so on.
	Change string
	Source string
	// Evidence is the raw proof: the member's text with its message id,
	// the provider's event, the import's file and row, who acted.
	Evidence string
	Reason   string
	// At is when the change happened (for a text, when delivery first
	// received it), by the service's clock.
	At time.Time
	// Key makes the event id: the same act (a webhook Twilio retries, an
	// event SendGrid repeats) gives the same id, so consumers apply it
	// once. "stop." plus the message's SID, for example.
	Key string
	// Correlation ties the event to what caused it (the message SID).
	Correlation string
}

// Event is the announcement of the change, stamped with now from the
// service's clock and identified by the change's key.
func (c Change) Event(now time.Time) *events.ConsentChanged {
	meta := events.NewMeta(events.TypeConsentChanged, events.VersionConsent, c.Correlation, now)
	if c.Key != "" {
		meta.ID = c.Key
		if c.Correlation == "" {
			meta.CorrelationID = c.Key
		}
	}
	return &events.ConsentChanged{
		Meta: meta, Channel: c.Channel, Address: c.Address, Change: c.Change, Source: c.Source,
		Evidence: c.Evidence, Reason: c.Reason, At: c.At.UTC(),
	}
}
