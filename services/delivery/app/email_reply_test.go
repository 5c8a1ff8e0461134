package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/provider/sendgrid"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
)

// emailed sends one campaign email to addr and returns the email as the
// member received it, with its message id.
func emailed(t *testing.T, h *harness, addr string) (sim.Email, string) {
	t.Helper()
	key := h.email(addr, "Contract vote Thursday", "Vote at the union hall, 5pm.")
	msg := h.waitStatus(key, "delivered")
	for _, e := range h.sim.Emails() {
		if e.To == addr && e.CustomArgs["message_id"] == msg.ID {
			return e, msg.ID
		}
	}
	t.Fatalf("no email to %s recorded", addr)
	return sim.Email{}, ""
}

// confirmations counts the opt-out confirmations sent to addr.
func confirmations(h *harness, addr string) int {
	n := 0
	for _, e := range h.sim.Emails() {
		if e.To == addr && (strings.Contains(e.Text, "You will get no more emails from") || strings.Contains(e.Text, "Ya no recibirá más correos de")) {
			n++
		}
	}
	return n
}

// subjectEvents reads every event on a subject of a stream.
func subjectEvents[T any](t *testing.T, h *harness, stream, subject string) []T {
	t.Helper()
	s, err := h.js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		raw, err := s.GetMsg(context.Background(), seq)
		if err != nil || raw.Subject != subject {
			continue
		}
		var ev T
		if json.Unmarshal(raw.Data, &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

func inboundEvents(t *testing.T, h *harness, from string) []events.InboundReceived {
	var out []events.InboundReceived
	for _, ev := range subjectEvents[events.InboundReceived](t, h, events.StreamMessages, events.SubjectInbound) {
		if ev.From == from {
			out = append(out, ev)
		}
	}
	return out
}

func consentEvents(t *testing.T, h *harness, addr string) []events.ConsentChanged {
	var out []events.ConsentChanged
	for _, ev := range subjectEvents[events.ConsentChanged](t, h, events.StreamConsent, events.SubjectConsentChanged) {
		if ev.Address == addr {
			out = append(out, ev)
		}
	}
	return out
}

// A member's reply asking to stop, to a campaign email whose quoted
// original carries our footer, takes the address off email before the
// webhook answers, is confirmed by one email, and SendGrid posting the
// same email again changes nothing and sends no second confirmation.
func TestEmailReplyOptOutSuppressesAndConfirmsOnce(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	for i, words := range []string{"unsubscribe", "Please take me off this list", "BAJA por favor"} {
		addr := []string{"ana@local1199.org", "bo@local1199.org", "lupe@local1199.org"}[i]
		t.Run(words, func(t *testing.T) {
			e, msgID := emailed(t, h, addr)
			if e.ReplyTo != "reply+"+msgID+"@"+replyDomain {
				t.Fatalf("Reply-To = %q, want the message's own reply address", e.ReplyTo)
			}
			reply := e.Answer(words)
			reply.From = strings.ToUpper(addr[:1]) + addr[1:] // mail clients keep the case the member typed
			reply.MessageID = "reply-" + msgID + "@mail.example.org"
			for range 2 { // SendGrid posts again when it did not see our answer
				code, err := h.sim.SendEmailReply(context.Background(), reply)
				if err != nil || code != http.StatusOK {
					t.Fatalf("inbound parse = %d, %v", code, err)
				}
				// Suppressed by the time the webhook answered.
				if !suppressed(h, addr) {
					t.Fatal("the address was not suppressed when the webhook answered")
				}
			}
			testkit.Eventually(t, "the confirmation", func() bool { return confirmations(h, addr) == 1 })
			for _, c := range h.sim.Emails() {
				if c.To == addr && c.CustomArgs["message_id"] == "" {
					// In the language the member wrote in.
					if spanish := strings.HasPrefix(words, "BAJA"); spanish != strings.HasPrefix(c.Text, "Ya no") {
						t.Errorf("confirmation of %q = %q", words, c.Text)
					}
				}
			}
			never(t, "a second confirmation", func() bool { return confirmations(h, addr) > 1 }, 300*time.Millisecond)
			var optOuts []events.ConsentChanged
			testkit.Eventually(t, "the consent event", func() bool {
				optOuts = consentEvents(t, h, addr)
				return len(optOuts) > 0
			})
			ev := optOuts[0]
			if len(optOuts) != 1 || ev.Change != events.ConsentOptedOut || ev.Source != events.SourceInboundEmailReply ||
				ev.Channel != events.ChannelEmail || !strings.HasPrefix(ev.Evidence, words) || strings.Contains(ev.Evidence, "Vote at the union hall") ||
				ev.At.IsZero() || ev.At.After(h.clock.Now()) {
				t.Fatalf("consent events = %+v", optOuts)
			}
			// The inbox hears it too, as the member's opt-out, once.
			var in []events.InboundReceived
			testkit.Eventually(t, "the inbound event", func() bool { in = inboundEvents(t, h, addr); return len(in) > 0 })
			if len(in) != 1 || in[0].Keyword != "opt_out" || in[0].Channel != events.ChannelEmail || in[0].ContactID == "" || in[0].CampaignID == "" {
				t.Fatalf("inbound events = %+v", in)
			}
			// The next campaign email never leaves.
			h.waitStatus(h.email(addr, "Reminder", "Vote today"), "suppressed")
		})
	}
}

// An ordinary reply, whose quoted original says "Unsubscribe" in our
// footer, is not an opt-out: it reaches the inbox as an email reply with
// the campaign and contact it answers.
func TestEmailReplyGoesToTheInboxWithItsCampaign(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	addr := "cy@local1199.org"
	e, msgID := emailed(t, h, addr)
	msg, _ := h.message(events.IdempotencyKey(e.CustomArgs["campaign_id"], 0, e.CustomArgs["contact_id"], events.ChannelEmail))
	if msg.ID != msgID {
		t.Fatalf("message %+v", msg)
	}
	reply := e.Answer("Thanks, I'll be there with two coworkers.")
	if !strings.Contains(reply.Text, "> Vote at the union hall") || !strings.Contains(strings.ToLower(reply.Text), "unsubscribe") {
		t.Fatalf("the reply does not quote the original footer: %q", reply.Text)
	}
	if code, err := h.sim.SendEmailReply(context.Background(), reply); err != nil || code != http.StatusOK {
		t.Fatalf("inbound parse = %d, %v", code, err)
	}
	var in []events.InboundReceived
	testkit.Eventually(t, "the inbound event", func() bool { in = inboundEvents(t, h, addr); return len(in) > 0 })
	ev := in[0]
	if ev.Channel != events.ChannelEmail || ev.Keyword != "" || ev.Body != "Thanks, I'll be there with two coworkers." ||
		ev.CampaignID != msg.CampaignID || ev.ContactID != msg.ContactID || ev.To != "reply+"+msgID+"@"+replyDomain {
		t.Fatalf("inbound event = %+v", ev)
	}
	if suppressed(h, addr) || confirmations(h, addr) != 0 {
		t.Fatal("the quoted footer was read as an opt-out")
	}
	// The conversation shows the reply beside the email.
	var conv struct {
		Turns []struct{ Direction, Body string } `json:"turns"`
	}
	h.get("/conversations/email/"+addr, &conv)
	if n := len(conv.Turns); n != 2 || conv.Turns[1].Direction != "inbound" {
		t.Errorf("conversation = %+v", conv)
	}
}

// Someone else answering a member's email (it was forwarded to them) with
// an opt-out takes their own address off, not the member's, and the
// reply is not put on the member's record.
func TestEmailReplyFromAnotherAddressIsNotTheMembers(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member, other := "di@local1199.org", "coworker@example.org"
	e, _ := emailed(t, h, member)
	reply := e.Answer("stop emailing me")
	reply.From = other
	if code, err := h.sim.SendEmailReply(context.Background(), reply); err != nil || code != http.StatusOK {
		t.Fatalf("inbound parse = %d, %v", code, err)
	}
	if !suppressed(h, other) || suppressed(h, member) {
		t.Fatalf("suppressed: sender %v, member %v; want the sender's address alone", suppressed(h, other), suppressed(h, member))
	}
	var in []events.InboundReceived
	testkit.Eventually(t, "the inbound event", func() bool { in = inboundEvents(t, h, other); return len(in) > 0 })
	if in[0].ContactID != "" || in[0].CampaignID != "" {
		t.Fatalf("a stranger's reply was put on the member's record: %+v", in[0])
	}
}

// A post with a wrong secret is answered as a path that does not exist
// and changes nothing; an oversized or malformed post is refused with a
// 4xx, also changing nothing.
func TestEmailReplyRefusals(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	addr := "ed@local1199.org"
	e, _ := emailed(t, h, addr)
	post := func(secret string, body *bytes.Buffer, contentType string) int {
		t.Helper()
		resp, err := http.Post("http://"+h.addr+sendgrid.InboundPrefix+secret, contentType, body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	stop := e.Answer("unsubscribe")
	body, ct, err := sim.InboundParseBody(stop)
	if err != nil {
		t.Fatal(err)
	}
	if code := post(inboundSecret+"x", body, ct); code != http.StatusNotFound {
		t.Errorf("wrong secret = %d, want 404", code)
	}
	body, ct, _ = sim.InboundParseBody(stop)
	if code := post("", body, ct); code == http.StatusOK {
		t.Errorf("no secret = %d", code)
	}
	huge := stop
	huge.Text = "unsubscribe\n" + strings.Repeat("a", sendgrid.MaxInboundText)
	body, ct, _ = sim.InboundParseBody(huge)
	if code := post(inboundSecret, body, ct); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized = %d, want 413", code)
	}
	body, ct, _ = sim.InboundParseBody(stop)
	if code := post(inboundSecret, bytes.NewBuffer(body.Bytes()[:body.Len()/2]), ct); code != http.StatusBadRequest {
		t.Errorf("cut-off multipart = %d, want 400", code)
	}
	var form bytes.Buffer
	w := multipart.NewWriter(&form)
	_ = w.WriteField("text", "unsubscribe")
	w.Close()
	if code := post(inboundSecret, &form, w.FormDataContentType()); code != http.StatusBadRequest {
		t.Errorf("no sender or recipient = %d, want 400", code)
	}
	if suppressed(h, addr) || confirmations(h, addr) != 0 || len(inboundEvents(t, h, addr)) != 0 {
		t.Fatal("a refused post changed something")
	}
	// A photo attached does not stop the opt-out being heard.
	stop.Attachments = 3
	if code, err := h.sim.SendEmailReply(context.Background(), stop); err != nil || code != http.StatusOK || !suppressed(h, addr) {
		t.Fatalf("opt-out with attachments = %d, %v, suppressed %v", code, err, suppressed(h, addr))
	}
}

// A member who already used the unsubscribe link and then replies
// "unsubscribe" gets no confirmation (they have been told once); the
// reply is still evidence for the ledger.
func TestEmailReplyAfterTheLinkIsNotConfirmedAgain(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	addr := "fay@local1199.org"
	e, _ := emailed(t, h, addr)
	resp, err := http.Post(strings.Trim(e.Headers["List-Unsubscribe"], "<>"), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !suppressed(h, addr) {
		t.Fatalf("one-click = %d", resp.StatusCode)
	}
	if code, err := h.sim.SendEmailReply(context.Background(), e.Answer("UNSUBSCRIBE")); err != nil || code != http.StatusOK {
		t.Fatalf("inbound parse = %d, %v", code, err)
	}
	testkit.Eventually(t, "both opt-outs in the ledger", func() bool {
		sources := map[string]bool{}
		for _, ev := range consentEvents(t, h, addr) {
			sources[ev.Source] = true
		}
		return sources[events.SourceInboundEmail] && sources[events.SourceInboundEmailReply]
	})
	never(t, "a confirmation", func() bool { return confirmations(h, addr) > 0 }, 300*time.Millisecond)
}

// An out-of-office answer to a campaign email is no member talking: it
// is recorded but kept out of the inbox.
func TestEmailAutoReplyStaysOutOfTheInbox(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	addr := "gus@local1199.org"
	e, _ := emailed(t, h, addr)
	away := e.Answer("I am out of the office until Monday and will read your message then.")
	away.Headers = map[string]string{"Auto-Submitted": "auto-replied"}
	if code, err := h.sim.SendEmailReply(context.Background(), away); err != nil || code != http.StatusOK {
		t.Fatalf("inbound parse = %d, %v", code, err)
	}
	var conv struct {
		Turns []struct{ Direction, Body string } `json:"turns"`
	}
	h.get("/conversations/email/"+addr, &conv)
	if len(conv.Turns) != 2 || conv.Turns[1].Direction != "inbound" {
		t.Fatalf("conversation = %+v: the answer was not recorded", conv)
	}
	never(t, "the auto-reply in the inbox", func() bool { return len(inboundEvents(t, h, addr)) > 0 }, 500*time.Millisecond)
	if suppressed(h, addr) {
		t.Fatal("an out-of-office answer suppressed the member")
	}
}

// An email reply that might be an opt-out waits in the review queue like
// a text does, with the same business-day deadline.
func TestEmailReplyMayBeAnOptOutWaitsForReview(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	addr := "dee@local1199.org"
	e, _ := emailed(t, h, addr)
	if code, err := h.sim.SendEmailReply(context.Background(), e.Answer(unclear)); err != nil || code != http.StatusOK {
		t.Fatalf("inbound parse = %d, %v", code, err)
	}
	open := h.reviews("open")
	if len(open.Reviews) != 1 || open.Reviews[0].Channel != string(events.ChannelEmail) || open.Reviews[0].Address != addr {
		t.Fatalf("open reviews = %+v, want the email reply", open.Reviews)
	}
	if suppressed(h, addr) {
		t.Fatal("a possible opt-out suppressed the address before anyone decided")
	}
}
