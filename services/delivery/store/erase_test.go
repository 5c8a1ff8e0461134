package store_test

import (
	"context"
	"testing"

	"github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/erasure"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

// TestEraseKeepsOnlyTheHashedSuppression erases a member who was texted,
// replied and texted STOP, twice (a redelivered contact.erased): no
// column of any table holds their number, email or reply afterwards; the
// suppression is kept on the number's hash, and a new campaign's texts to
// the same number (re-imported) are suppressed, by the batch and by the
// one-by-one path alike; another member is untouched.
func TestEraseKeepsOnlyTheHashedSuppression(t *testing.T) {
	ctx := context.Background()
	clock := testkit.NewClock(t)
	url := testkit.Database(t, migrations.FS)
	pool, err := postgres.Open(ctx, url, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	key, err := erasure.NewKey("DELIVERY_ERASURE_KEY", "delivery-store-erasure-key-0123456789abcdef", false)
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(pool, clock.Now).WithErasureKey(key)
	const phone, email, member = "+12125550177", "marisol.q@local1199.org", "7d1f7c4e-6c3b-4f39-9d38-1f7f1c2b9a01"
	send := func(key, contact, to string) events.SendRequested {
		return events.SendRequested{IdempotencyKey: key, CampaignID: "c1", ContactID: contact, Channel: events.ChannelSMS,
			To: to, Body: "Hi " + contact + ", vote Thursday"}
	}
	if _, _, err := st.Record(ctx, events.SendRequested{IdempotencyKey: "k1", CampaignID: "c1", ContactID: member, Channel: events.ChannelSMS,
		To: phone, Body: "Marisol, vote Thursday"}, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Record(ctx, send("k-other", "other", "+12125550178"), 1); err != nil {
		t.Fatal(err)
	}
	in := store.Inbound{ProviderID: "SM1", Channel: "sms", From: phone, To: "+15550000000", Body: "Marisol here: STOP"}
	claim, err := st.ClaimInbound(ctx, in, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	in.ID, in.ContactID, in.CampaignID, in.Reply = claim.ID, member, "c1", "You're unsubscribed, Marisol."
	if _, _, err := st.RecordInbound(ctx, in, clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Suppress(ctx, store.Suppression{Channel: "sms", Address: phone, Reason: "opted_out", Source: events.SourceInboundSMS,
		Evidence: "Marisol here: STOP (SM1)", At: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	needles := []string{phone, "2125550177", email, "Marisol"}
	if hits, err := testkit.FindText(ctx, url, needles...); err != nil || len(hits) == 0 {
		t.Fatalf("before: %v (%v), the search finds nothing", hits, err)
	}
	ev := events.ContactErased{ContactID: member, Addresses: []events.ErasedAddress{
		{Channel: events.ChannelSMS, Address: phone}, {Channel: events.ChannelEmail, Address: email}}}
	for range 2 {
		if err := st.Erase(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if hits, err := testkit.FindText(ctx, url, needles...); err != nil || len(hits) > 0 {
			t.Fatalf("after the erasure: %v (%v)", hits, err)
		}
	}
	list, _, err := st.Suppressions(ctx, "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := key.Hash(events.ChannelSMS, phone)
	he, _ := key.Hash(events.ChannelEmail, email)
	got := map[string]string{}
	for _, s := range list {
		got[s.Address] = s.Source
	}
	if len(got) != 2 || got[h] != events.SourceInboundSMS || got[he] != "erasure" {
		t.Fatalf("suppressions = %+v, want the STOP on the number's hash and the erasure's on the email's", list)
	}
	if other, err := st.ByKey(ctx, "k-other"); err != nil || other.To != "+12125550178" || other.Body == "" {
		t.Fatalf("another member's message: %+v (%v)", other, err)
	}
	if m, err := st.ByKey(ctx, "k1"); err != nil || m.Status != status.Suppressed {
		t.Fatalf("the erased member's waiting text is %+v (%v), want suppressed", m, err)
	}

	// Re-imported: a new campaign texts the number again.
	got2, err := st.RecordAndClaimMany(ctx, []events.SendRequested{send("k2", "new-id", phone), send("k3", "other2", "+12125550179")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got2["k2"].Status != status.Suppressed || got2["k3"].Status != status.Sending {
		t.Fatalf("batch after the erasure: %+v", got2)
	}
	m, created, err := st.Record(ctx, send("k4", "new-id", phone), 1)
	if err != nil || !created {
		t.Fatal(err)
	}
	if s, err := st.Claim(ctx, m.ID); err != nil || s != status.Suppressed {
		t.Fatalf("claiming a text to the erased number: %s (%v), want suppressed", s, err)
	}
	if ok, err := st.IsSuppressed(ctx, "email", "Marisol.Q@local1199.org"); err != nil || !ok {
		t.Fatalf("the erased email is not suppressed (%v)", err)
	}
}
