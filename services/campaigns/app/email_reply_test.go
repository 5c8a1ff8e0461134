package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// A member's answer by email (delivery hears replies to campaign emails
// too) counts like one by text, and no auto-reply is built for it: the
// auto-replies are texts, and a text to an email address is no answer.
// A reply that might be an opt-out goes to a person, never to the count.
func TestEmailReplyCountsWithoutATextToTheAddress(t *testing.T) {
	h := newHarness(t, false, nil)
	for _, p := range people {
		h.dir.add(p)
	}
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{
		"name": "December GMM", "kind": "meeting", "channel": "both",
		"body":     "Local 1199: {{meeting_title}} is {{meeting_time}}. Reply YES or NO. Reply STOP to opt out.",
		"email":    map[string]string{"subject": "{{meeting_title}}", "text": "Hi {{first_name}}, will you come? Reply YES or NO."},
		"audience": map[string]string{"tag": "gmm"},
		"meeting":  map[string]any{"title": "General meeting", "starts_at": h.began.Add(80 * time.Hour), "place": "Union Hall"},
	})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	invited(t, srv.url, id, out, 5)
	di := people["Di"]
	ev := events.InboundReceived{
		Meta:      events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now()),
		MessageID: events.NewID(), ProviderID: "email:mid:" + events.NewID()[:16], Channel: events.ChannelEmail,
		From: di.Email, To: "reply+" + events.NewID() + "@replies.example.org", Body: "Yes, I'll be there", CampaignID: id, ContactID: di.ContactID,
	}
	// First a reply delivery could not call an opt-out or not: a person
	// reads it, and its "yes" is no RSVP.
	doubt := ev
	doubt.Meta = events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now())
	doubt.Body, doubt.Keyword = "yes I said stop sending these", "possible_opt_out"
	h.publishInbound(doubt, doubt.ID)
	var list struct {
		Items []inboxItem `json:"items"`
	}
	testkit.Eventually(t, "the doubtful reply in the inbox", func() bool {
		list.Items = nil
		call(t, "GET", srv.url+"/inbox", nil, &list)
		return len(list.Items) == 1
	})
	if it := list.Items[0]; it.Body != doubt.Body || it.From != di.Email || it.CampaignID == nil || *it.CampaignID != id {
		t.Fatalf("inbox item = %+v", it)
	}
	if got := rsvps(t, srv.url, id); got != (rsvpCount{}) {
		t.Fatalf("a possible opt-out was counted as an RSVP: %+v", got)
	}
	h.publishInbound(ev, ev.ID)
	testkit.Eventually(t, "Di's answer by email", func() bool { return rsvps(t, srv.url, id) == rsvpCount{1, 0} })
	// Delivery's answer to a text comes within milliseconds; give it far
	// more before saying none came.
	time.Sleep(500 * time.Millisecond)
	if got := out.where(func(m events.SendRequested) bool {
		return strings.HasPrefix(m.IdempotencyKey, "c."+id+".r.") || m.To == di.Email && m.Channel == events.ChannelSMS
	}); len(got) > 0 {
		t.Fatalf("an email reply was answered with %+v", got)
	}
}
