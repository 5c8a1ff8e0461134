package app_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

func suppressed(h *harness, addr string) bool {
	var sup struct {
		Suppressions []struct{ Address, Channel string } `json:"suppressions"`
	}
	h.get("/suppressions", &sup)
	for _, s := range sup.Suppressions {
		if s.Address == addr {
			return true
		}
	}
	return false
}

// Emails with the same content share one SendGrid call; each recipient
// gets their own unsubscribe link and List-Unsubscribe headers, and the
// one-click POST suppresses the address before it answers.
func TestEmailBatchedWithOneClickUnsubscribe(t *testing.T) {
	// A long linger, so the four emails share a batch even when other
	// tests load the machine.
	h := newHarness(t, setup{config: func(c *app.Config) { c.EmailLinger = 500 * time.Millisecond }})
	h.start(nil)
	addrs := []string{"ana@local1199.org", "bo@local1199.org", "cy@local1199.org", "di@local1199.org"}
	var keys []string
	for _, a := range addrs {
		keys = append(keys, h.email(a, "Contract vote Thursday", "Vote at the union hall, 5pm."))
	}
	for _, k := range keys {
		h.waitStatus(k, "delivered")
	}
	emails := h.sim.Emails()
	if len(emails) != len(addrs) {
		t.Fatalf("%d emails recorded, want %d", len(emails), len(addrs))
	}
	links := map[string]string{}
	for _, e := range emails {
		if e.MessageID != emails[0].MessageID {
			t.Errorf("emails went in more than one request: %s and %s", e.MessageID, emails[0].MessageID)
		}
		if e.CustomArgs["message_id"] == "" || e.CustomArgs["campaign_id"] == "" || strings.Contains(strings.Join(mapValues(e.CustomArgs), " "), "@") {
			t.Errorf("custom_args = %v: want ids and no personal data", e.CustomArgs)
		}
		if e.Headers["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click" {
			t.Errorf("headers = %v", e.Headers)
		}
		link := strings.Trim(e.Headers["List-Unsubscribe"], "<>")
		if !strings.Contains(e.Text, link) || !strings.Contains(e.HTML, link) {
			t.Errorf("body lacks the member's own unsubscribe link %s:\n%s", link, e.Text)
		}
		links[e.To] = link
	}
	if links[addrs[0]] == links[addrs[1]] {
		t.Fatal("two members share an unsubscribe link")
	}

	// A link scanner's GET only shows a page; nothing changes.
	resp, err := http.Get(links[addrs[0]])
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Unsubscribe?") || suppressed(h, addrs[0]) {
		t.Fatalf("GET unsubscribe = %d, suppressed=%v", resp.StatusCode, suppressed(h, addrs[0]))
	}
	// The mail client's one-click POST (RFC 8058).
	resp, err = http.Post(links[addrs[0]], "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !suppressed(h, addrs[0]) {
		t.Fatalf("one-click = %d, suppressed=%v", resp.StatusCode, suppressed(h, addrs[0]))
	}
	// A forged token changes nothing.
	u, _ := url.Parse(links[addrs[1]])
	q := u.Query()
	q.Set("t", q.Get("t")+"x")
	u.RawQuery = q.Encode()
	resp, err = http.Post(u.String(), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || suppressed(h, addrs[1]) {
		t.Fatalf("forged unsubscribe = %d, suppressed=%v", resp.StatusCode, suppressed(h, addrs[1]))
	}
	// The next email to the unsubscribed address never leaves.
	h.waitStatus(h.email(addrs[0], "Reminder", "Vote today"), "suppressed")
	if n := len(h.sim.Emails()); n != len(addrs) {
		t.Fatalf("%d emails after the unsubscribe, want %d", n, len(addrs))
	}
}

// The same request twice in one batch (a redelivery meeting a republish,
// under different broker message ids) is recorded and sent once, and both
// copies are answered.
func TestEmailDuplicateInOneBatchSentOnce(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.EmailLinger = 500 * time.Millisecond }})
	h.start(nil)
	key := events.IdempotencyKey("00000000-0000-4000-8000-0000000000d1", 0, "contact-d1", events.ChannelEmail)
	req := events.SendRequested{
		Meta:           events.Meta{ID: key, Type: events.TypeSendRequested, Version: 1, OccurredAt: time.Now()},
		IdempotencyKey: key, CampaignID: "00000000-0000-4000-8000-0000000000d1", ContactID: "contact-d1",
		Channel: events.ChannelEmail, To: "bo@local1199.org", Subject: "Contract vote Thursday", Body: "Vote", HTML: "<p>Vote</p>",
	}
	for _, id := range []string{"copy-1", "copy-2"} {
		if err := stream.PublishEventually(context.Background(), h.js, events.SendSubject(events.ChannelEmail), id, req); err != nil {
			t.Fatal(err)
		}
	}
	h.waitStatus(key, "delivered")
	consumer, err := h.js.Consumer(context.Background(), events.StreamSend, "delivery-send-email")
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "both copies answered", func() bool {
		info, err := consumer.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	sent := 0
	for _, e := range h.sim.Emails() {
		if e.To == "bo@local1199.org" {
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("%d emails for the request sent twice, want 1", sent)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// SendGrid's events, signed and repeated: a hard bounce and a spam report
// suppress the address at once, a repeat is acted on once, and a post
// without a valid signature is refused and changes nothing.
func TestEmailEventsSuppressOnce(t *testing.T) {
	h := newHarness(t, setup{simConfig: func(c *sim.Config) { c.AutoEmailEvents = false }})
	h.start(nil)
	bounce, spam := "gone@local1199.org", "angry@local1199.org"
	kb, ks := h.email(bounce, "Hi", "text"), h.email(spam, "Hi", "text")
	h.waitStatus(kb, "accepted")
	h.waitStatus(ks, "accepted")
	var eb, es sim.Email
	for _, e := range h.sim.Emails() {
		switch e.To {
		case bounce:
			eb = e
		case spam:
			es = e
		}
	}
	bounced := h.sim.EmailEvent(eb, "bounce", nil)
	complaint := h.sim.EmailEvent(es, "spamreport", nil)
	for range 3 { // SendGrid repeats events
		code, err := h.sim.SendEmailEvents(context.Background(), []map[string]any{bounced, complaint})
		if err != nil || code != http.StatusNoContent {
			t.Fatalf("events = %d, %v", code, err)
		}
	}
	h.waitStatus(kb, "undelivered")
	if !suppressed(h, bounce) || !suppressed(h, spam) {
		t.Fatal("bounce or spam report did not suppress")
	}
	// A forged post: right shape, no valid signature.
	resp, err := http.Post("http://"+h.addr+"/webhooks/sendgrid/events", "application/json",
		strings.NewReader(`[{"sg_event_id":"x1","event":"delivered","email":"a@b.org","message_id":"`+eb.CustomArgs["message_id"]+`"}]`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned events = %d, want 403", resp.StatusCode)
	}
	if m, _ := h.message(kb); m.Status != "undelivered" {
		t.Fatalf("forged event moved the message to %s", m.Status)
	}
}

// A meeting invitation's calendar file reaches SendGrid as an attachment.
func TestEmailAttachmentsPassThrough(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	ics := "QkVHSU46VkNBTEVOREFS" // base64 of "BEGIN:VCALENDAR"
	key := h.publish(events.ChannelEmail, "ana@local1199.org", func(r *events.SendRequested) {
		r.Subject, r.Body = "Meeting Thursday", "See you there."
		r.Attachments = []events.Attachment{{Filename: "meeting.ics", ContentType: "text/calendar", Content: ics}}
	})
	h.waitStatus(key, "delivered")
	e := h.sim.Emails()
	if len(e) != 1 || len(e[0].Attachments) != 1 || e[0].Attachments[0].Filename != "meeting.ics" || e[0].Attachments[0].Content != ics {
		t.Fatalf("emails = %+v", e)
	}
}

func TestEmailBadAddressFails(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	if m := h.waitStatus(h.email("not-an-address", "Hi", "text"), "failed"); !strings.Contains(m.Reason, "email") {
		t.Errorf("reason = %q", m.Reason)
	}
	if len(h.sim.Emails()) != 0 {
		t.Fatal("a bad address reached SendGrid")
	}
}
