package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"net/http"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

type resultsOut struct {
	Targeted  int            `json:"targeted"`
	Published int            `json:"published"`
	Pending   int            `json:"pending"`
	Sent      int            `json:"sent"`
	Delivered int            `json:"delivered"`
	Failed    int            `json:"failed"`
	ByStatus  map[string]int `json:"by_status"`
	Failures  map[string]int `json:"failures"`
	Replies   int            `json:"replies"`
	OptOuts   int            `json:"opt_outs"`
	InboxOpen int            `json:"inbox_open"`
}

// sse reads a server-sent event stream's results events into a channel.
func sse(t *testing.T, url string) (<-chan resultsOut, func()) {
	t.Helper()
	resp, err := api().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan resultsOut, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var r resultsOut
			if err := json.Unmarshal([]byte(data), &r); err != nil {
				t.Errorf("stream data %q: %v", data, err)
				return
			}
			ch <- r
		}
	}()
	return ch, func() { resp.Body.Close() }
}

// TestLiveResultsCountEachMessageOnce: the numbers arrive over the event
// stream as delivery reports come in; a redelivered report, a late one and
// reports about auto-replies change nothing; replies and opt-outs count,
// and compliance keywords never reach the inbox.
func TestLiveResultsCountEachMessageOnce(t *testing.T) {
	h := newHarness(t, false, nil)
	ms := rally(3)
	h.dir.add(ms...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{"name": "Rally", "body": "Local 1199: rally at 5. Reply STOP to opt out.", "audience": map[string]string{"tag": "rally"}})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "three texts", func() bool { return len(out.step(id, 0)) == 3 })
	reqs := out.where(func(m events.SendRequested) bool { return m.CampaignID == id })
	// The texts reach the queue before fan-out records the page it
	// published: wait for the record, so the stream's first event has it.
	testkit.Eventually(t, "the page recorded", func() bool {
		var r resultsOut
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
		return r.Published == 3
	})

	stream, closeStream := sse(t, srv.url+"/campaigns/"+id+"/results/stream")
	defer closeStream()
	first := <-stream
	if first.Targeted != 3 || first.Published != 3 || first.Pending != 3 {
		t.Fatalf("first event = %+v", first)
	}

	h.status(reqs[0], events.StatusDelivered, "a1")
	h.status(reqs[1], events.StatusFailed, "b1")
	h.status(reqs[2], events.StatusSent, "c1")
	h.status(reqs[0], events.StatusDelivered, "a1-again") // redelivered under a new message id
	h.status(reqs[0], events.StatusSent, "a0-late")       // late, out of order
	auto := reqs[0]
	auto.IdempotencyKey = "c." + id + ".r.evt1." + auto.ContactID + ".sms" // an auto-reply's status
	h.status(auto, events.StatusDelivered, "auto")
	keyword := func(m member, body, family string) {
		ev := events.InboundReceived{
			Meta: events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now()), Channel: events.ChannelSMS,
			From: m.Phone, Body: body, Keyword: family, CampaignID: id, ContactID: m.ContactID,
		}
		h.publishInbound(ev, ev.ID)
	}
	keyword(ms[0], "STOP", "opt_out")
	keyword(ms[1], "stop texting me", "opt_out")
	keyword(ms[1], "YES", "help") // as if delivery had answered it: never an answer here

	var last resultsOut
	testkit.Eventually(t, "the stream to show every report", func() bool {
		for {
			select {
			case r := <-stream:
				last = r
				continue
			default:
			}
			break
		}
		return last.Delivered == 1 && last.Failed == 1 && last.Sent == 2 && last.Replies == 3
	})
	var r resultsOut
	call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
	if r.Delivered != 1 || r.Failed != 1 || r.Sent != 2 || r.Pending != 0 || r.ByStatus["delivered"] != 1 || r.ByStatus["sent"] != 1 ||
		r.Failures["30003 unreachable handset"] != 1 || r.OptOuts != 2 || r.Replies != 3 || r.InboxOpen != 0 {
		t.Errorf("results = %+v", r)
	}
}

// TestResultsCountStatusBatches: a batch of changes (one email call's
// recipients) counts like the same changes one by one: a message listed
// twice keeps its higher report, a lower report arriving later in another
// batch changes nothing, and changes outside campaigns are ignored.
func TestResultsCountStatusBatches(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(4)...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{"name": "Batch", "body": "Local 1199: rally at 5. Reply STOP to opt out.", "audience": map[string]string{"tag": "rally"}})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "four texts", func() bool { return len(out.step(id, 0)) == 4 })
	reqs := out.where(func(m events.SendRequested) bool { return m.CampaignID == id })
	test := reqs[3]
	test.IdempotencyKey, test.CampaignID = "test.1", "not-a-campaign"

	h.statuses(change(reqs[0], events.StatusAccepted), change(reqs[1], events.StatusAccepted),
		change(reqs[2], events.StatusFailed), change(reqs[0], events.StatusDelivered), change(test, events.StatusDelivered))
	h.statuses(change(reqs[1], events.StatusSending), change(reqs[0], events.StatusSent)) // late, lower

	var r resultsOut
	testkit.Eventually(t, "the batches counted", func() bool {
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
		return r.Pending == 1
	})
	if r.Delivered != 1 || r.Sent != 2 || r.Failed != 1 || r.ByStatus["accepted"] != 1 || r.ByStatus["delivered"] != 1 ||
		r.Failures["30003 unreachable handset"] != 1 {
		t.Errorf("results = %+v", r)
	}
}

// An event on MESSAGES that this release has no handler for (a newer
// delivery rolled out first) is kept in the dead-letter stream, not
// acknowledged unread.
func TestUnknownMessagesEventIsDeadLettered(t *testing.T) {
	h := newHarness(t, false, nil)
	h.start()
	if err := stream.Publish(context.Background(), h.js, "messages.future_kind", "future-1", map[string]string{"type": "message.future_kind"}); err != nil {
		t.Fatal(err)
	}
	dl, err := h.js.Stream(context.Background(), events.StreamDeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the event in the dead-letter stream", func() bool {
		raw, err := dl.GetLastMsgForSubject(context.Background(), events.SubjectDeadLetterPrefix+"campaigns-results")
		if err != nil {
			return false
		}
		var ev events.DeadLettered
		return json.Unmarshal(raw.Data, &ev) == nil && ev.Subject == "messages.future_kind" && strings.Contains(ev.Error, "no handler")
	})
}

type inboxItem struct {
	ID         string  `json:"id"`
	CampaignID *string `json:"campaign_id"`
	FirstName  string  `json:"first_name"`
	From       string  `json:"from"`
	Body       string  `json:"body"`
	HandledAt  *string `json:"handled_at"`
	Replies    []struct {
		Body string `json:"body"`
	} `json:"replies"`
}

// TestInboxRepliesGoThroughDelivery: a reply the campaign does not
// understand reaches the inbox; an organizer's answer goes out as a send
// request to the member's number (once, however often the request is
// retried); handled items leave the open list.
func TestInboxRepliesGoThroughDelivery(t *testing.T) {
	h := newHarness(t, false, nil)
	ms := rally(2)
	h.dir.add(ms...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{"name": "Rally", "body": "Rally at 5", "audience": map[string]string{"tag": "rally"}})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "the texts", func() bool { return len(out.step(id, 0)) == 2 })
	// Recipients are saved as each page's publishes are acknowledged:
	// wait for the fan-out to finish, as a member's reply would.
	testkit.Eventually(t, "the fan-out to finish", func() bool {
		var c struct{ Status string }
		call(t, "GET", srv.url+"/campaigns/"+id, nil, &c)
		return c.Status == "launched"
	})
	h.inbound(id, ms[0].ContactID, ms[0].Phone, "Can I bring my kids?")
	h.inbound("", "", "+13125550199", "who is this") // no campaign, no contact

	var list struct {
		Items []inboxItem `json:"items"`
	}
	testkit.Eventually(t, "two inbox items", func() bool {
		list.Items = nil
		call(t, "GET", srv.url+"/inbox", nil, &list)
		return len(list.Items) == 2
	})
	var it inboxItem
	for _, x := range list.Items {
		if x.Body == "Can I bring my kids?" {
			it = x
		}
	}
	if it.CampaignID == nil || *it.CampaignID != id || it.FirstName != ms[0].FirstName || it.From != ms[0].Phone {
		t.Fatalf("inbox item = %+v", it)
	}
	reply := func() (int, bool) {
		req, _ := http.NewRequest("POST", srv.url+"/inbox/"+it.ID+"/reply", strings.NewReader(`{"body":"Of course, bring them!"}`))
		req.Header.Set("Idempotency-Key", "answer-1")
		resp, err := api().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AlreadySent bool `json:"already_sent"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.AlreadySent
	}
	if code, again := reply(); code != 202 || again {
		t.Fatalf("reply = %d already=%v", code, again)
	}
	if code, again := reply(); code != 202 || !again {
		t.Fatalf("retried reply = %d already=%v", code, again)
	}
	answers := func() []events.SendRequested {
		return out.where(func(m events.SendRequested) bool { return strings.HasPrefix(m.IdempotencyKey, "c."+id+".i.") })
	}
	testkit.Eventually(t, "the answer in the SEND stream", func() bool { return len(answers()) == 1 })
	a := answers()[0]
	if a.To != ms[0].Phone || a.Body != "Of course, bring them!" || !a.Urgent || a.Channel != events.ChannelSMS {
		t.Errorf("answer = %+v", a)
	}
	if code := call(t, "POST", srv.url+"/inbox/"+it.ID+"/reply", map[string]string{"body": " "}, nil); code != 400 {
		t.Errorf("empty answer = %d, want 400", code)
	}
	if code := call(t, "POST", srv.url+"/inbox/"+it.ID+"/handled", nil, &it); code != 200 || it.HandledAt == nil {
		t.Fatalf("handled = %d %+v", code, it)
	}
	// Decode into empty lists: json.Unmarshal keeps a field the answer
	// omits (a null campaign id) from whatever the slice held before.
	list.Items = nil
	call(t, "GET", srv.url+"/inbox", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Body != "who is this" || list.Items[0].CampaignID != nil {
		t.Errorf("open inbox = %+v", list.Items)
	}
	list.Items = nil
	call(t, "GET", srv.url+"/inbox?status=handled&campaign_id="+id, nil, &list)
	if len(list.Items) != 1 || len(list.Items[0].Replies) != 1 || list.Items[0].Replies[0].Body != "Of course, bring them!" {
		t.Errorf("handled inbox = %+v", list.Items)
	}
	if code := call(t, "POST", srv.url+"/inbox/nope/handled", nil, nil); code != 404 {
		t.Errorf("unknown item = %d, want 404", code)
	}
}

// TestResultsCountPossibleOptOuts: a reply delivery holds for review
// (keyword possible_opt_out) counts as a reply and a possible opt-out,
// not an opt-out, and reaches the inbox like any reply a person answers.
func TestResultsCountPossibleOptOuts(t *testing.T) {
	h := newHarness(t, false, nil)
	ms := rally(2)
	h.dir.add(ms...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{"name": "Rally", "body": "Local 1199: rally at 5. Reply STOP to opt out.", "audience": map[string]string{"tag": "rally"}})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "two texts", func() bool { return len(out.step(id, 0)) == 2 })
	for i, reply := range []struct{ body, keyword string }{{"I told you already to stop", "possible_opt_out"}, {"STOP", "opt_out"}} {
		ev := events.InboundReceived{
			Meta: events.NewMeta(events.TypeInboundReceived, events.VersionInbound, "", h.clock.Now()), Channel: events.ChannelSMS,
			From: ms[i].Phone, Body: reply.body, Keyword: reply.keyword, CampaignID: id, ContactID: ms[i].ContactID,
		}
		h.publishInbound(ev, ev.ID)
	}
	var r struct {
		resultsOut
		PossibleOptOuts *int `json:"possible_opt_outs"`
	}
	testkit.Eventually(t, "both replies counted", func() bool {
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
		return r.Replies == 2 && r.InboxOpen == 1
	})
	if r.PossibleOptOuts == nil || *r.PossibleOptOuts != 1 || r.OptOuts != 1 || r.InboxOpen != 1 {
		t.Errorf("results: possible_opt_outs %v, opt_outs %d, inbox_open %d; want 1, 1, 1", r.PossibleOptOuts, r.OptOuts, r.InboxOpen)
	}
}
