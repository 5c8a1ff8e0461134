package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
)

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func state(t *testing.T, s *Store, ch events.Channel, addr string) (status, source string) {
	t.Helper()
	err := s.pool.QueryRow(context.Background(), `SELECT status, source FROM consent WHERE channel = $1 AND address = $2`, string(ch), addr).Scan(&status, &source)
	if err != nil {
		t.Fatal(err)
	}
	return status, source
}

func ledgerCount(t *testing.T, s *Store, ch events.Channel, addr string) int {
	t.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM consent_ledger WHERE channel = $1 AND address = $2`, string(ch), addr).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestConsentEventsApplyOnceInAnyOrder applies sequences of STOP, START,
// bounce, spam report and organizer changes in every order, each three
// times: the ledger holds each event once and the state is the one their
// times say, whatever the arrival order.
func TestConsentEventsApplyOnceInAnyOrder(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	sms, email := events.ChannelSMS, events.ChannelEmail
	cases := []struct {
		name       string
		ch         events.Channel
		evs        []events.ConsentChanged
		wantStatus string
		wantSource string
	}{
		{"stop, start, stop", sms, nil, consent.OptedOut, events.SourceInboundSMS},
		{"stop then start", sms, nil, consent.Subscribed, events.SourceInboundSMS},
		{"bounce, resubscribe, spam report", email, nil, consent.OptedOut, events.SourceProvider},
		{"member stop outlives a later organizer opt-in", sms, nil, consent.OptedOut, events.SourceInboundSMS},
		{"member start lifts an earlier organizer opt-out", sms, nil, consent.Subscribed, events.SourceInboundSMS},
		{"organizer opt-out after a start stands", sms, nil, consent.OptedOut, events.SourceOrganizer},
	}
	ev := func(ch events.Channel, addr, change, source string, m int) events.ConsentChanged {
		return consentEvent(ch, addr, change, source, at(m))
	}
	for i := range cases {
		c := &cases[i]
		addr := fmt.Sprintf("+1212555%04d", i)
		if c.ch == email {
			addr = fmt.Sprintf("m%d@x.org", i)
		}
		switch i {
		case 0:
			c.evs = []events.ConsentChanged{ev(sms, addr, events.ConsentOptedOut, events.SourceInboundSMS, 1),
				ev(sms, addr, events.ConsentResubscribe, events.SourceInboundSMS, 2), ev(sms, addr, events.ConsentOptedOut, events.SourceInboundSMS, 3)}
		case 1:
			c.evs = []events.ConsentChanged{ev(sms, addr, events.ConsentOptedOut, events.SourceInboundSMS, 1),
				ev(sms, addr, events.ConsentResubscribe, events.SourceInboundSMS, 2)}
		case 2:
			c.evs = []events.ConsentChanged{ev(email, addr, events.ConsentBounced, events.SourceProvider, 1),
				ev(email, addr, events.ConsentResubscribe, events.SourceProvider, 2), ev(email, addr, events.ConsentComplained, events.SourceProvider, 3)}
		case 3:
			c.evs = []events.ConsentChanged{ev(sms, addr, events.ConsentOptedOut, events.SourceInboundSMS, 1),
				ev(sms, addr, events.ConsentResubscribe, events.SourceOrganizer, 2)}
		case 4:
			c.evs = []events.ConsentChanged{ev(sms, addr, events.ConsentOptedOut, events.SourceOrganizer, 1),
				ev(sms, addr, events.ConsentResubscribe, events.SourceInboundSMS, 2)}
		case 5:
			c.evs = []events.ConsentChanged{ev(sms, addr, events.ConsentOptedOut, events.SourceInboundSMS, 1),
				ev(sms, addr, events.ConsentResubscribe, events.SourceInboundSMS, 2), ev(sms, addr, events.ConsentOptedOut, events.SourceOrganizer, 3)}
		}
		for pi, perm := range permutations(len(c.evs)) {
			a := fmt.Sprintf("%s-%d", addr, pi) // a fresh address per order
			var applied int
			for range 3 {
				for _, k := range perm {
					e := c.evs[k]
					e.Address = a
					e.ID = fmt.Sprintf("%s-%d", e.ID, pi)
					ok, err := s.ApplyConsent(ctx, e)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						applied++
					}
				}
			}
			status, source := state(t, s, c.ch, a)
			if applied != len(c.evs) || ledgerCount(t, s, c.ch, a) != len(c.evs) {
				t.Errorf("%s, order %v: applied %d, ledger %d; want %d each", c.name, perm, applied, ledgerCount(t, s, c.ch, a), len(c.evs))
			}
			if status != c.wantStatus || source != c.wantSource {
				t.Errorf("%s, order %v: state %s by %s, want %s by %s", c.name, perm, status, source, c.wantStatus, c.wantSource)
			}
		}
	}
}

func TestOrganizerOptInOnlyLiftsTheUnionsOwnOptOut(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	organizer := func(addr, change string) events.ConsentChanged {
		return consentEvent(events.ChannelSMS, addr, change, events.SourceOrganizer, time.Now().UTC())
	}
	// Opted out by an organizer: an organizer may lift it.
	if _, err := s.OrganizerOptOut(ctx, organizer("+12125550001", events.ConsentOptedOut)); err != nil {
		t.Fatal(err)
	}
	changed, err := s.OrganizerOptIn(ctx, organizer("+12125550001", events.ConsentResubscribe))
	if err != nil || !changed {
		t.Fatalf("lifting an organizer opt-out: changed %v, %v", changed, err)
	}
	if st, _ := state(t, s, events.ChannelSMS, "+12125550001"); st != consent.Subscribed {
		t.Fatalf("state %s after organizer opt-in", st)
	}
	// The member texted STOP, then an organizer opted them out too: the
	// organizer still cannot lift it.
	if _, err := s.ApplyConsent(ctx, consentEvent(events.ChannelSMS, "+12125550002", events.ConsentOptedOut, events.SourceInboundSMS, now.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OrganizerOptOut(ctx, organizer("+12125550002", events.ConsentOptedOut)); err != nil {
		t.Fatal(err)
	}
	_, err = s.OrganizerOptIn(ctx, organizer("+12125550002", events.ConsentResubscribe))
	if apperr.KindOf(err) != apperr.KindConflict {
		t.Fatalf("lifting a member's STOP: err = %v, want a conflict", err)
	}
	if st, src := state(t, s, events.ChannelSMS, "+12125550002"); st != consent.OptedOut || src != events.SourceInboundSMS {
		t.Fatalf("state %s by %s, want opted_out by inbound_sms", st, src)
	}
	if n := ledgerCount(t, s, events.ChannelSMS, "+12125550002"); n != 2 {
		t.Fatalf("ledger has %d entries, want the STOP and the organizer opt-out", n)
	}
	// Nothing to lift: nothing recorded.
	changed, err = s.OrganizerOptIn(ctx, organizer("+12125550003", events.ConsentResubscribe))
	if err != nil || changed || ledgerCount(t, s, events.ChannelSMS, "+12125550003") != 0 {
		t.Fatalf("opt-in of a subscribed address: changed %v, %v", changed, err)
	}
	// Every organizer change went to the outbox, once.
	var queued int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&queued); err != nil || queued != 3 {
		t.Fatalf("outbox holds %d events, want 3 (%v)", queued, err)
	}
}

// TestOptInEvidenceChangesNoConsent: a contact created through the API
// leaves its opt-in evidence in the ledger, which an export shows, and
// that evidence never lifts an opt-out; a member's own join does.
func TestOptInEvidenceChangesNoConsent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	phone := "+12125550010"
	if _, err := s.ApplyConsent(ctx, consentEvent(events.ChannelSMS, phone, events.ConsentOptedOut, events.SourceOrganizer, t0)); err != nil {
		t.Fatal(err)
	}
	c, err := contact.Draft{FirstName: "Ana", Phone: phone}.Normalize("US")
	if err != nil {
		t.Fatal(err)
	}
	if c, err = s.Create(ctx, c, "created through the contacts API by console"); err != nil {
		t.Fatal(err)
	}
	if n := ledgerCount(t, s, events.ChannelSMS, phone); n != 2 {
		t.Fatalf("ledger has %d entries, want the opt-out and the creation's evidence", n)
	}
	hist, err := s.ConsentHistory(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, h := range hist {
		found = found || (h.Change == events.ConsentSubscribed && h.Source == events.SourceAPI && h.Evidence != "")
	}
	if !found {
		t.Fatalf("history %+v lacks the API's opt-in evidence", hist)
	}
	// Settling again (any later event) must not read the evidence as an
	// opt-in.
	if _, err := s.ApplyConsent(ctx, consentEvent(events.ChannelSMS, phone, events.ConsentOptedOut, events.SourceImport, t0.Add(-time.Hour))); err != nil {
		t.Fatal(err)
	}
	if st, _ := state(t, s, events.ChannelSMS, phone); st != consent.OptedOut {
		t.Fatalf("state %s: the API's evidence lifted an organizer's opt-out", st)
	}
	// The member texts JOIN: their own opt-in lifts it.
	join := consentEvent(events.ChannelSMS, phone, events.ConsentSubscribed, events.SourceJoinKeyword, t0.Add(time.Hour))
	if _, err := s.ApplyConsent(ctx, join); err != nil {
		t.Fatal(err)
	}
	if st, src := state(t, s, events.ChannelSMS, phone); st != consent.Subscribed || src != events.SourceJoinKeyword {
		t.Fatalf("state %s by %s after JOIN, want subscribed by join_keyword", st, src)
	}
}

func TestJoinedAddsAnUnknownNumberOnce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 2, 15, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, false} {
		created, err := s.Joined(ctx, "+12125550011", at)
		if err != nil || created != want {
			t.Fatalf("join %d: created %v (%v), want %v", i, created, err, want)
		}
	}
	var tags []string
	if err := s.pool.QueryRow(ctx, `SELECT tags FROM contacts WHERE phone = $1`, "+12125550011").Scan(&tags); err != nil || len(tags) != 1 || tags[0] != JoinedTag {
		t.Fatalf("joined contact tags %v (%v)", tags, err)
	}
}
