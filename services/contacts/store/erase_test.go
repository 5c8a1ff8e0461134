package store

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

// TestEraseLeavesOnlyTheHashedOptOut erases a member who texted STOP and
// was rated and assigned: no column of any table of the database holds
// their number, email or name afterwards; the ledger keeps the STOP on
// the number's keyed hash; contact.erased is queued once; erasing again
// does nothing; and the number added again (a new contact) is opted out.
func TestEraseLeavesOnlyTheHashedOptOut(t *testing.T) {
	ctx := context.Background()
	url := testkit.Database(t, migrations.FS)
	pool, err := postgres.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	key, err := erasure.NewKey("CONTACTS_ERASURE_KEY", "store-test-erasure-key-0123456789abcdef", false)
	if err != nil {
		t.Fatal(err)
	}
	s := New(pool, testkit.NewClock(t).Now).WithErasureKey(key)
	c := mustCreate(t, s, contact.Draft{FirstName: "Marisol", LastName: "Quintanilla", Phone: "+12125550177", Email: "marisol.q@local1199.org"})
	now := s.Now()
	stop := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", now),
		Channel: events.ChannelSMS, Address: "+12125550177", Change: events.ConsentOptedOut,
		Source: events.SourceInboundSMS, Evidence: "STOP from +12125550177 (Marisol Quintanilla) SM1", At: now,
	}
	if _, err := s.ApplyConsent(ctx, stop); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO contact_assignments (contact_id, assignee_id, assignee_name, previous_id, source, changed_by, changed_at)
		VALUES ($1, 'u1', 'Sam', '', 'test', 'u1', $2)`, c.ID, now); err != nil {
		t.Fatal(err)
	}
	needles := []string{"+12125550177", "2125550177", "marisol.q@local1199.org", "Marisol", "Quintanilla"}
	if hits, err := testkit.FindText(ctx, url, needles...); err != nil || len(hits) == 0 {
		t.Fatalf("before the erasure the search finds %v (%v): it cannot find anything", hits, err)
	}

	if _, err := s.Erase(ctx, c.ID, ""); err == nil {
		t.Fatal("an erasure with nobody named was accepted")
	}
	out, err := s.Erase(ctx, c.ID, "admin-1")
	if err != nil || out.Already {
		t.Fatalf("Erase = %+v, %v", out, err)
	}
	// The event is queued with the addresses, for campaigns and delivery;
	// the relay deletes it once published. Then nothing is left.
	var payload []byte
	if err := pool.QueryRow(ctx, `SELECT payload FROM outbox WHERE subject = $1`, events.SubjectContactErased).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	var ev events.ContactErased
	if err := json.Unmarshal(payload, &ev); err != nil || ev.ContactID != c.ID || len(ev.Addresses) != 2 || ev.ErasedBy != "admin-1" {
		t.Fatalf("queued %+v (%v)", ev, err)
	}
	if _, err := pool.Exec(ctx, `DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
	hits, err := testkit.FindText(ctx, url, needles...)
	if err != nil || len(hits) > 0 {
		t.Fatalf("after the erasure: %v (%v)", hits, err)
	}
	h, _ := key.Hash(events.ChannelSMS, "+12125550177")
	var stops, erasures int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE source = $2), count(*) FILTER (WHERE source = $3)
		FROM consent_ledger WHERE channel = 'sms' AND address = $1`, h, events.SourceInboundSMS, SourceErasure).Scan(&stops, &erasures); err != nil {
		t.Fatal(err)
	}
	if stops != 1 || erasures != 1 {
		t.Fatalf("the ledger keeps %d STOPs and %d erasures on the hash, want 1 and 1", stops, erasures)
	}
	if st, _ := state(t, s, events.ChannelSMS, h); st != consent.OptedOut {
		t.Fatalf("hashed number is %s", st)
	}
	var who string
	if err := pool.QueryRow(ctx, `SELECT erased_by FROM erasures WHERE contact_id = $1`, c.ID).Scan(&who); err != nil || who != "admin-1" {
		t.Fatalf("erasures records %q (%v)", who, err)
	}

	again, err := s.Erase(ctx, c.ID, "admin-2")
	if err != nil || !again.Already || again.ErasedBy != "admin-1" {
		t.Fatalf("second Erase = %+v, %v; want already erased by admin-1", again, err)
	}
	var queued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox`).Scan(&queued); err != nil || queued != 0 {
		t.Fatalf("a second erasure queued %d events (%v)", queued, err)
	}

	// Added again, by hand: opted out at once, by the erasure, on both
	// channels; a later edit does not record it twice.
	back := mustCreate(t, s, contact.Draft{FirstName: "M", Phone: "+12125550177", Email: "Marisol.Q@local1199.org"})
	for _, ch := range []events.Channel{events.ChannelSMS, events.ChannelEmail} {
		addr := string(back.Phone)
		if ch == events.ChannelEmail {
			addr = string(back.Email)
		}
		if st, src := state(t, s, ch, addr); st != consent.OptedOut || src != SourceErasure {
			t.Fatalf("%s re-added is %s by %s, want opted out by the erasure", ch, st, src)
		}
	}
	last := "Q"
	if _, err := s.Update(ctx, back.ID, contact.Patch{LastName: &last}, "US"); err != nil {
		t.Fatal(err)
	}
	if n := ledgerCount(t, s, events.ChannelSMS, "+12125550177"); n != 1 {
		t.Fatalf("the re-added number has %d ledger entries, want the one carried over", n)
	}
	// A number never erased is not touched.
	other := mustCreate(t, s, contact.Draft{Phone: "+12125550178"})
	if n := ledgerCount(t, s, events.ChannelSMS, string(other.Phone)); n != 0 {
		t.Fatalf("a new number got %d ledger entries", n)
	}
}
