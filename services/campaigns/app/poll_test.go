package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

type pollOut struct {
	Question string `json:"question"`
	Poll     struct {
		Counts      map[string]int `json:"counts"`
		Answered    int            `json:"answered"`
		NoAnswer    int            `json:"no_answer"`
		FollowUpYes int            `json:"follow_up_yes"`
	} `json:"poll"`
	Groups []struct {
		Value    string         `json:"value"`
		Counts   map[string]int `json:"counts"`
		NoAnswer int            `json:"no_answer"`
	} `json:"groups"`
}

// caseloadPoll is the poll of the stories: three choices with Spanish
// labels and a follow-up to Unsafe.
func caseloadPoll(tag string) map[string]any {
	return map[string]any{
		"name": "Caseload check", "kind": "poll",
		"body":     "How is your caseload this week? Reply 1 Manageable, 2 Heavy, 3 Unsafe. Reply STOP to opt out.",
		"audience": map[string]string{"tag": tag},
		"poll": map[string]any{
			"question": "How is your caseload this week?", "choices": []string{"Manageable", "Heavy", "Unsafe"},
			"choices_es": []string{"Manejable", "Pesado", "Peligroso"},
			"follow_ups": map[string]string{"Unsafe": "Thank you. Can a steward call you? Reply YES"},
		},
	}
}

// TestPollByReply is a poll's whole story in campaigns: answers by number,
// word and Spanish are counted; what is no answer goes to the inbox; STOP
// is never an answer; the follow-up goes once to the Unsafe answer and its
// YES is recorded; a changed answer moves the count and keeps its history;
// the breakdown by worksite and the CSV say who answered what.
func TestPollByReply(t *testing.T) {
	h := newHarness(t, false, nil)
	ms := rally(6)
	for i := range ms {
		ms[i].Fields = map[string]string{"worksite": []string{"North", "South"}[i%2]}
	}
	h.dir.add(ms...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, caseloadPoll("rally"))
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	invited(t, srv.url, id, out, 6)
	replies := []string{"2", "heavy", "Unsafe!", "pesado", "what?", "STOP"}
	evs := make([]events.InboundReceived, len(replies))
	for i, body := range replies {
		if body == "STOP" {
			// As delivery publishes it: the keyword it answered.
			ev := events.InboundReceived{
				Meta:      events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now()),
				MessageID: events.NewID(), Channel: events.ChannelSMS, From: ms[i].Phone, Body: body, CampaignID: id,
				ContactID: ms[i].ContactID, Keyword: "opt_out",
			}
			h.publishInbound(ev, ev.ID)
			continue
		}
		evs[i] = h.inbound(id, ms[i].ContactID, ms[i].Phone, body)
	}
	var p pollOut
	testkit.Eventually(t, "the answers counted", func() bool {
		call(t, "GET", srv.url+"/campaigns/"+id+"/poll?by=worksite", nil, &p)
		return p.Poll.Answered == 4
	})
	want := map[string]int{"Manageable": 0, "Heavy": 3, "Unsafe": 1}
	if !reflect.DeepEqual(p.Poll.Counts, want) || p.Poll.NoAnswer != 2 || p.Question != "How is your caseload this week?" {
		t.Fatalf("poll = %+v", p)
	}
	// North: members 0, 2, 4 ("2", "Unsafe!", "what?"); South: 1, 3, 5.
	if len(p.Groups) != 2 || p.Groups[0].Value != "North" || p.Groups[0].Counts["Heavy"] != 1 || p.Groups[0].Counts["Unsafe"] != 1 ||
		p.Groups[0].NoAnswer != 1 || p.Groups[1].Counts["Heavy"] != 2 || p.Groups[1].NoAnswer != 1 {
		t.Fatalf("by worksite = %+v", p.Groups)
	}
	var inbox struct {
		Items []struct {
			Body string `json:"body"`
			Note string `json:"note"`
		} `json:"items"`
	}
	testkit.Eventually(t, "the inbox", func() bool {
		call(t, "GET", srv.url+"/inbox?campaign_id="+id, nil, &inbox)
		return len(inbox.Items) >= 1
	})
	time.Sleep(200 * time.Millisecond)
	call(t, "GET", srv.url+"/inbox?campaign_id="+id, nil, &inbox)
	if len(inbox.Items) != 1 || inbox.Items[0].Body != "what?" || inbox.Items[0].Note != "not an answer to the poll: How is your caseload this week?" {
		t.Fatalf("inbox = %+v, want only what?", inbox.Items)
	}
	followUps := func() []events.SendRequested {
		return out.where(func(m events.SendRequested) bool { return strings.Contains(m.IdempotencyKey, ".f.") })
	}
	testkit.Eventually(t, "the follow-up", func() bool { return len(followUps()) == 1 })
	if f := followUps()[0]; f.ContactID != ms[2].ContactID || f.Body != "Thank you. Can a steward call you? Reply YES" || !f.Urgent {
		t.Fatalf("follow-up = %+v", f)
	}
	// The webhook redelivered: nothing twice.
	h.publishInbound(evs[2], evs[2].ID+"-again")
	h.inbound(id, ms[2].ContactID, ms[2].Phone, "unsafe") // the same answer again
	h.inbound(id, ms[2].ContactID, ms[2].Phone, "YES")
	testkit.Eventually(t, "the yes to the follow-up", func() bool {
		call(t, "GET", srv.url+"/campaigns/"+id+"/poll", nil, &p)
		return p.Poll.FollowUpYes == 1
	})
	if n := len(followUps()); n != 1 {
		t.Fatalf("%d follow-ups, want 1", n)
	}
	// A changed answer moves the count; the history keeps both.
	h.clock.Set(h.began.Add(time.Hour))
	h.inbound(id, ms[0].ContactID, ms[0].Phone, "1")
	testkit.Eventually(t, "the changed answer", func() bool {
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &p)
		return p.Poll.Counts["Manageable"] == 1
	})
	if p.Poll.Counts["Heavy"] != 2 || p.Poll.Answered != 4 {
		t.Fatalf("after the change: %+v", p.Poll)
	}
	var hist struct {
		Answers []struct {
			Answer, Previous, Body string
		} `json:"answers"`
	}
	call(t, "GET", srv.url+"/contacts/"+ms[0].ContactID+"/poll-answers", nil, &hist)
	if len(hist.Answers) != 2 || hist.Answers[0].Answer != "Manageable" || hist.Answers[0].Previous != "Heavy" || hist.Answers[1].Body != "2" {
		t.Fatalf("history = %+v", hist.Answers)
	}
	resp, err := api().Get(srv.url + "/campaigns/" + id + "/poll-answers?format=csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csv := string(b)
	if resp.StatusCode != 200 || strings.Count(csv, "\n") != 7 || !strings.Contains(csv, ms[0].ContactID+",M"+ms[0].FirstName[1:]+",,Manageable,1,sms") {
		t.Fatalf("csv %d:\n%s", resp.StatusCode, csv)
	}
	if code := call(t, "GET", srv.url+"/campaigns/"+id+"/poll?by=", nil, nil); code != 200 {
		t.Errorf("poll without by = %d", code)
	}
	if code := call(t, "GET", srv.url+"/campaigns/"+id+"/poll-answers?answer=Nope", nil, nil); code != http.StatusBadRequest {
		t.Errorf("unknown answer filter = %d", code)
	}
}

// TestPollDraftsRefused: what a poll must say to be saved.
func TestPollDraftsRefused(t *testing.T) {
	h := newHarness(t, false, nil)
	srv := h.start()
	for _, c := range []struct {
		poll  map[string]any
		field string
	}{
		{nil, "poll"},
		{map[string]any{"question": "Q?"}, "poll.choices"},
		{map[string]any{"question": "Q?", "choices": []string{"Only"}}, "poll.choices"},
		{map[string]any{"question": "Q?", "choices": []string{"Stop", "Go on"}}, "poll.choices"},
		{map[string]any{"question": "Q?", "choices": []string{"A lot", "a LOT"}}, "poll.choices"},
		{map[string]any{"question": "Q?", "choices": []string{"1", "Two"}}, "poll.choices"},
		{map[string]any{"question": "Q?", "choices": []string{"A", "B"}, "choices_es": []string{"A"}}, "poll.choices_es"},
		{map[string]any{"question": "Q?", "scale": 5, "choices": []string{"A", "B"}}, "poll.scale"},
		{map[string]any{"question": "Q?", "scale": 50}, "poll.scale"},
		{map[string]any{"question": "", "scale": 5}, "poll.question"},
		{map[string]any{"question": "Q?", "scale": 5, "follow_ups": map[string]string{"6": "Hi"}}, "poll.follow_ups"},
		{map[string]any{"question": "Q?", "scale": 5, "follow_ups": map[string]string{"1": "Hi {{nope}}"}}, "poll.follow_ups.1"},
	} {
		body := map[string]any{"name": "P", "kind": "poll", "body": "Q? Reply 1-5", "audience": map[string]string{"tag": "x"}}
		if c.poll != nil {
			body["poll"] = c.poll
		}
		var e errOut
		if code := call(t, "POST", srv.url+"/campaigns", body, &e); code != 400 || e.Field != c.field {
			t.Errorf("%v: %d %+v, want 400 on %s", c.poll, code, e, c.field)
		}
	}
	var e errOut
	if code := call(t, "POST", srv.url+"/campaigns", map[string]any{"name": "P", "body": "Hi", "audience": map[string]string{"tag": "x"},
		"poll": map[string]any{"question": "Q?", "scale": 5}}, &e); code != 400 || e.Field != "poll" {
		t.Errorf("an alert with a poll: %d %+v", code, e)
	}
}
