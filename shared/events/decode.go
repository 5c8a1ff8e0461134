package events

import (
	"encoding/json"
	"fmt"
	"time"
)

// Event is what every versioned event is: its own type name, and the Meta
// it carries.
type Event interface {
	EventType() string
	EventMeta() Meta
}

// EventMeta returns the event's metadata; every event embeds Meta, so
// every event has it.
func (m Meta) EventMeta() Meta { return m }

// EventType names each event for Decode.
func (SendRequested) EventType() string   { return TypeSendRequested }
func (StatusChanged) EventType() string   { return TypeStatusChanged }
func (StatusesChanged) EventType() string { return TypeStatusesChanged }
func (InboundReceived) EventType() string { return TypeInboundReceived }
func (ConsentChanged) EventType() string  { return TypeConsentChanged }
func (RhythmChanged) EventType() string   { return TypeRhythmChanged }
func (DeadLettered) EventType() string    { return TypeDeadLettered }
func (ContactErased) EventType() string   { return TypeContactErased }

// Current is the version of eventType this release writes and the newest
// it reads; 0 for a type it does not know.
func Current(eventType string) int {
	switch eventType {
	case TypeSendRequested:
		return VersionSendRequested
	case TypeStatusChanged:
		return VersionStatusChanged
	case TypeStatusesChanged:
		return VersionStatuses
	case TypeInboundReceived:
		return VersionInbound
	case TypeConsentChanged:
		return VersionConsent
	case TypeDeadLettered:
		return VersionDeadLettered
	case TypeRhythmChanged:
		return VersionRhythm
	case TypeContactErased:
		return VersionContactErased
	}
	return 0
}

// Decode reads one event of type E, the one path every consumer reads
// events through. It refuses what this release cannot read safely: data
// that does not decode, an event of another type, or a version newer
// than Current knows. The error is permanent: redelivering the same bytes
// cannot change the answer (after an upgrade, a dead letter can be
// retried).
func Decode[E Event](data []byte) (E, error) {
	var ev E
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("decoding %s event: %w", ev.EventType(), err)
	}
	return ev, Check(ev)
}

// Check holds a decoded event to the rules Decode applies, for a consumer
// that decodes by other means (delivery's faster send-request decoder).
func Check(ev Event) error {
	want, m := ev.EventType(), ev.EventMeta()
	// Events from before types were stamped carry none; a stamped one must
	// be what the subject promised.
	if m.Type != "" && m.Type != want {
		return fmt.Errorf("expected a %s event, got %s", want, m.Type)
	}
	if m.Version > Current(want) {
		return fmt.Errorf("%s event version %d is newer than this service knows (%d)", want, m.Version, Current(want))
	}
	return nil
}

// KeyedMeta is NewMeta for an event whose id is derived from what it
// reports (a provider's message SID, an idempotency key), so that
// publishing it again, from a retry or a redelivered webhook, is
// deduplicated by the stream. The version is the one this release writes.
func KeyedMeta(id, eventType, correlationID string, now time.Time) Meta {
	if correlationID == "" {
		correlationID = id
	}
	return Meta{ID: id, Type: eventType, Version: Current(eventType), OccurredAt: now.UTC(), CorrelationID: correlationID}
}
