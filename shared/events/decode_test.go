package events

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeReadsWhatThisReleaseWrites(t *testing.T) {
	now := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)
	in := ConsentChanged{Meta: KeyedMeta("in.SM1", TypeConsentChanged, "", now), Channel: ChannelSMS,
		Address: "+15555550100", Change: ConsentOptedOut, Source: SourceInboundSMS, At: now}
	data, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode[ConsentChanged](data)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.ID != "in.SM1" || got.CorrelationID != "in.SM1" || got.Version != VersionConsent || !got.OccurredAt.Equal(now) ||
		got.Address != in.Address {
		t.Fatalf("decoded %+v, want %+v", got, in)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		data string
		want string
	}{
		"newer version": {`{"event_id":"e","type":"message.inbound_received","version":2}`, "newer than this service knows"},
		"another type":  {`{"event_id":"e","type":"consent.changed","version":1}`, "expected a message.inbound_received event"},
		"not json":      {`{"event_id":`, "decoding message.inbound_received event"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode[InboundReceived]([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode(%s) = %v, want an error saying %q", tc.data, err, tc.want)
			}
		})
	}
	// An event from before types were stamped is read by its subject.
	if _, err := Decode[InboundReceived]([]byte(`{"event_id":"e","version":1}`)); err != nil {
		t.Fatalf("an unstamped event: %v", err)
	}
}

func TestEveryEventTypeHasACurrentVersion(t *testing.T) {
	for _, ev := range []Event{SendRequested{}, StatusChanged{}, StatusesChanged{}, InboundReceived{}, ConsentChanged{},
		RhythmChanged{}, DeadLettered{}, ContactErased{}} {
		if Current(ev.EventType()) < 1 {
			t.Errorf("%s has no current version", ev.EventType())
		}
	}
	if Current("no.such_event") != 0 {
		t.Fatal("an unknown type has a version")
	}
}

func TestDecodeSendRequestedChecksVersionsAsDecodeDoes(t *testing.T) {
	_, err := DecodeSendRequested([]byte(`{"event_id":"k","type":"send.requested","version":9,"idempotency_key":"k","campaign_id":"c","contact_id":"p"}`))
	if err == nil || !strings.Contains(err.Error(), "newer than this service knows") {
		t.Fatalf("a newer send request: %v", err)
	}
	_, err = DecodeSendRequested([]byte(`{"event_id":"k","type":"consent.changed","version":1,"idempotency_key":"k","campaign_id":"c","contact_id":"p"}`))
	if err == nil {
		t.Fatal("a consent event read as a send request")
	}
}
