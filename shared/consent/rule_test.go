package consent

import (
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

func TestStanding(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	ev := func(change, source string, min int) *Event {
		return &Event{Change: change, Source: source, At: t0.Add(time.Duration(min) * time.Minute)}
	}
	stop := func(min int) *Event { return ev(events.ConsentOptedOut, events.SourceInboundSMS, min) }
	start := func(min int) *Event { return ev(events.ConsentResubscribe, events.SourceInboundSMS, min) }
	join := func(min int) *Event { return ev(events.ConsentSubscribed, events.SourceJoinKeyword, min) }
	orgOut := func(min int) *Event { return ev(events.ConsentOptedOut, events.SourceOrganizer, min) }
	orgIn := func(min int) *Event { return ev(events.ConsentResubscribe, events.SourceOrganizer, min) }
	cases := []struct {
		name          string
		member, union *Event
		want          string
	}{
		{"nothing", nil, nil, Subscribed},
		{"member STOP", stop(0), nil, OptedOut},
		{"member STOP outlives a later organizer opt-in", stop(0), orgIn(5), OptedOut},
		{"START after STOP", start(5), nil, Subscribed},
		{"JOIN is the member's opt-in", join(5), orgOut(0), Subscribed},
		{"organizer opt-out after the member's START", start(0), orgOut(5), OptedOut},
		{"member START after an organizer opt-out", start(5), orgOut(0), Subscribed},
		{"organizer opt-out then opt-in", nil, orgIn(5), Subscribed},
	}
	for _, c := range cases {
		if got, _ := Standing(c.member, c.union); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestOnlyTheMemberLiftsTheMembersOptOut(t *testing.T) {
	for _, c := range []struct {
		optOut, lift string
		want         bool
	}{
		{events.SourceInboundSMS, events.SourceInboundSMS, true},
		{events.SourceInboundSMS, events.SourceJoinKeyword, true},
		{events.SourceInboundSMS, events.SourceOrganizer, false},
		{events.SourceInboundSMS, events.SourceImport, false},
		{events.SourceProvider, events.SourceAPI, false},
		{events.SourceOrganizer, events.SourceOrganizer, true},
		{events.SourceImport, events.SourceOrganizer, true},
		{events.SourceOrganizer, events.SourceInboundSMS, true},
	} {
		if got := MayLift(c.optOut, c.lift); got != c.want {
			t.Errorf("MayLift(%s, %s) = %v, want %v", c.optOut, c.lift, got, c.want)
		}
	}
}

func TestChangeEventIsDeterministic(t *testing.T) {
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.FixedZone("EST", -5*3600))
	c := Change{Channel: events.ChannelSMS, Address: "+12125550100", Change: events.ConsentOptedOut,
		Source: events.SourceInboundSMS, Evidence: "STOP", At: at, Key: "stop.SM1", Correlation: "SM1"}
	a, b := c.Event(at), c.Event(at.Add(time.Second))
	if a.ID != "stop.SM1" || b.ID != a.ID || a.CorrelationID != "SM1" || !a.At.Equal(at) || a.At.Location() != time.UTC {
		t.Fatalf("event %+v", a)
	}
	if a.OccurredAt != at.UTC() {
		t.Fatalf("occurred at %v, want the given clock's %v", a.OccurredAt, at.UTC())
	}
}
