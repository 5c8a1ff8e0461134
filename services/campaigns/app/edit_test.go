package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// TestEditIsRefusedOnceLaunched: a draft of any kind can be replaced;
// once scheduled or launched, a replacement is a 409 that changes nothing.
func TestEditIsRefusedOnceLaunched(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(2)...)
	srv := h.start()
	start := h.clock.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	meeting := func(place string) map[string]any {
		return map[string]any{"name": "Stewards", "kind": "meeting", "channel": "both", "body": "Meet us {{meeting_time}}.",
			"email":    map[string]any{"subject": "Meeting", "text": "Come along."},
			"audience": map[string]string{"tag": "rally"},
			"meeting":  map[string]any{"title": "December meeting", "starts_at": start, "time_zone": "America/Chicago", "place": place}}
	}
	id := create(t, srv.url, meeting("Union Hall"))
	var e errOut
	if code := call(t, "PUT", srv.url+"/campaigns/"+id, meeting("Room 2"), &e); code != 200 {
		t.Fatalf("editing a draft meeting = %d %+v", code, e)
	}
	var c struct {
		Meeting struct{ Place string } `json:"meeting"`
	}
	call(t, "GET", srv.url+"/campaigns/"+id, nil, &c)
	if c.Meeting.Place != "Room 2" {
		t.Fatalf("the edit was not kept: %+v", c)
	}
	at := h.clock.Now().Add(48 * time.Hour).UTC()
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", map[string]any{"at": at}, nil); code != 202 {
		t.Fatalf("schedule = %d", code)
	}
	if code := call(t, "PUT", srv.url+"/campaigns/"+id, meeting("Room 3"), &e); code != 409 || e.Kind != "conflict" || !strings.Contains(e.Error, "only a draft can be edited") {
		t.Fatalf("editing a scheduled campaign = %d %+v, want 409", code, e)
	}
	call(t, "GET", srv.url+"/campaigns/"+id, nil, &c)
	if c.Meeting.Place != "Room 2" {
		t.Fatalf("a refused edit changed the campaign: %+v", c)
	}
}

// TestDuplicateCopiesContentNotSchedule: the copy is a new draft with
// the same kind, channels, audience and content, named "Copy of …",
// without the original's schedule or results.
func TestDuplicateCopiesContentNotSchedule(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(2)...)
	srv := h.start()
	id := create(t, srv.url, map[string]any{"name": "Fund the clinic", "kind": "petition", "channel": "both",
		"body": "Reply {{sign_keyword}} to sign.", "email": map[string]any{"subject": "Sign", "text": "Sign here: {{sign_link}}"},
		"audience": map[string]string{"tag": "rally"}, "urgent": true,
		"petition": map[string]any{"title": "Fund our clinic", "keyword": "FUND", "goal": 10}})
	at := h.clock.Now().Add(48 * time.Hour).UTC()
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", map[string]any{"at": at}, nil); code != 202 {
		t.Fatalf("schedule = %d", code)
	}
	type full struct {
		ID          string               `json:"id"`
		Name        string               `json:"name"`
		Kind        string               `json:"kind"`
		Channel     string               `json:"channel"`
		Body        string               `json:"body"`
		Status      string               `json:"status"`
		Urgent      bool                 `json:"urgent"`
		ScheduledAt *time.Time           `json:"scheduled_at"`
		Audience    struct{ Tag string } `json:"audience"`
		Content     map[string]struct {
			Email struct{ Subject, Text string } `json:"email"`
		} `json:"content"`
		Petition struct {
			Title, Keyword string
			Goal           int
		} `json:"petition"`
	}
	var cp full
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/duplicate", nil, &cp); code != 201 {
		t.Fatalf("duplicate = %d", code)
	}
	if cp.ID == id || cp.Name != "Copy of Fund the clinic" || cp.Status != "draft" || cp.ScheduledAt != nil ||
		cp.Kind != "petition" || cp.Channel != "both" || cp.Body != "Reply {{sign_keyword}} to sign." || !cp.Urgent ||
		cp.Audience.Tag != "rally" || cp.Content["en"].Email.Subject != "Sign" ||
		cp.Petition.Title != "Fund our clinic" || cp.Petition.Keyword != "FUND" || cp.Petition.Goal != 10 {
		t.Fatalf("copy = %+v", cp)
	}
	var r resultsOut
	call(t, "GET", srv.url+"/campaigns/"+cp.ID+"/results", nil, &r)
	if r.Published != 0 || r.Targeted != 0 {
		t.Fatalf("the copy has results: %+v", r)
	}
	// The copy can be edited like any draft.
	if code := call(t, "PUT", srv.url+"/campaigns/"+cp.ID, map[string]any{"name": "Clinic, again", "body": "Sign again.",
		"audience": map[string]string{"tag": "rally"}}, nil); code != 200 {
		t.Fatalf("editing the copy = %d", code)
	}
	var e errOut
	if code := call(t, "POST", srv.url+"/campaigns/nope/duplicate", nil, &e); code != 404 {
		t.Fatalf("duplicating nothing = %d %+v", code, e)
	}
}

// TestRescheduleMovesOnlyAWaitingCampaign: a scheduled campaign moves to
// a new time in the future; no time, a past time, a time after its
// meeting, a draft and a sent campaign are refused and change nothing.
func TestRescheduleMovesOnlyAWaitingCampaign(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(2)...)
	srv := h.start()
	out := h.outbox()
	now := h.clock.Now()
	id := create(t, srv.url, map[string]any{"name": "Rally", "body": "Rally at 5.", "audience": map[string]string{"tag": "rally"}})
	var e errOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/reschedule", map[string]any{"at": now.Add(time.Hour)}, &e); code != 409 {
		t.Fatalf("rescheduling a draft = %d %+v", code, e)
	}
	first := now.Add(48 * time.Hour).UTC().Truncate(time.Second)
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", map[string]any{"at": first}, nil); code != 202 {
		t.Fatalf("schedule = %d", code)
	}
	for name, body := range map[string]map[string]any{
		"no time":   {},
		"past time": {"at": now.Add(-time.Minute)},
	} {
		if code := call(t, "POST", srv.url+"/campaigns/"+id+"/reschedule", body, &e); code != 400 || e.Field != "at" {
			t.Errorf("%s = %d %+v, want 400 on at", name, code, e)
		}
	}
	if got := get(t, srv.url, id).ScheduledAt; !sameTime(got, first) {
		t.Fatalf("a refused move changed the time to %s", got)
	}
	sooner := now.Add(2 * time.Hour).UTC().Truncate(time.Second)
	var c campaignOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/reschedule", map[string]any{"at": sooner}, &c); code != 200 || !sameTime(c.ScheduledAt, sooner) || c.Status != "scheduled" {
		t.Fatalf("reschedule = %d %+v", code, c)
	}
	// The first message goes at the new time, not the old one.
	h.tick(srv, sooner.Add(-time.Minute))
	if n := len(out.step(id, 0)); n != 0 {
		t.Fatalf("%d sent before the new time", n)
	}
	h.tick(srv, sooner.Add(time.Minute))
	testkit.Eventually(t, "the texts at the new time", func() bool { return len(out.step(id, 0)) == 2 })
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/reschedule", map[string]any{"at": sooner.Add(time.Hour)}, &e); code != 409 {
		t.Fatalf("rescheduling a sent campaign = %d %+v", code, e)
	}

	// A meeting's invitation cannot be moved past the meeting.
	start := now.Add(5 * 24 * time.Hour).UTC()
	mid := create(t, srv.url, map[string]any{"name": "Meet", "kind": "meeting", "body": "Meet us.", "audience": map[string]string{"tag": "rally"},
		"meeting": map[string]any{"starts_at": start, "time_zone": "UTC", "place": "Hall"}})
	if code := call(t, "POST", srv.url+"/campaigns/"+mid+"/launch", map[string]any{"at": now.Add(24 * time.Hour)}, nil); code != 202 {
		t.Fatalf("schedule meeting = %d", code)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+mid+"/reschedule", map[string]any{"at": start.Add(time.Hour)}, &e); code != 400 || !strings.Contains(e.Error, "meeting starts") {
		t.Fatalf("moving an invitation past its meeting = %d %+v", code, e)
	}
}

// TestTestEmailIsMarkedAndNotCounted: a test email goes through delivery
// with "[Test]" before its subject, under a test key that results never
// count.
func TestTestEmailIsMarkedAndNotCounted(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(2)...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{"name": "News", "channel": "email", "audience": map[string]string{"tag": "rally"},
		"email": map[string]any{"subject": "Our news", "text": "Hello {{first_name}}.", "html": "<p>Hello <b>{{first_name}}</b>.</p>"}})
	var e errOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/test", map[string]any{"email": "not an address"}, &e); code != 400 || e.Field != "email" {
		t.Fatalf("a bad address = %d %+v", code, e)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/test", map[string]any{"email": "Organizer@Example.org"}, nil); code != 202 {
		t.Fatalf("test email = %d", code)
	}
	var sent []events.SendRequested
	testkit.Eventually(t, "the test email", func() bool {
		sent = out.where(func(m events.SendRequested) bool { return m.CampaignID == id })
		return len(sent) == 1
	})
	m := sent[0]
	if m.Channel != events.ChannelEmail || m.To != "organizer@example.org" || m.Subject != "[Test] Our news" || !strings.Contains(m.IdempotencyKey, ".test.") {
		t.Fatalf("test email = %+v", m)
	}
	// The test's report comes first, then a member's: once the member's
	// is counted, the test's was read too, and it must not count.
	h.status(m, events.StatusDelivered, "t1")
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "the emails", func() bool { return len(out.step(id, 0)) == 2 })
	first := out.where(func(m events.SendRequested) bool { return m.CampaignID == id && m.Step == 0 })[0]
	if strings.HasPrefix(first.Subject, "[Test]") {
		t.Fatalf("a member's email is marked as a test: %+v", first)
	}
	h.status(first, events.StatusDelivered, "d1")
	var r resultsOut
	testkit.Eventually(t, "the member's email counted", func() bool {
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
		return r.Delivered > 0
	})
	if r.Delivered != 1 || r.Sent != 1 {
		t.Fatalf("the test counted in results: %+v", r)
	}
}

// TestResultsTimeline: sends, deliveries and replies are counted in
// buckets of time from the launch, empty buckets kept.
func TestResultsTimeline(t *testing.T) {
	h := newHarness(t, false, nil)
	ms := rally(3)
	h.dir.add(ms...)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{"name": "Rally", "body": "Rally at 5.", "audience": map[string]string{"tag": "rally"}})
	type timeline struct {
		Timeline *struct {
			BucketSeconds int `json:"bucket_seconds"`
			Buckets       []struct {
				At                       time.Time
				Sent, Delivered, Replies int
			} `json:"buckets"`
		} `json:"timeline"`
	}
	var tl timeline
	call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &tl)
	if tl.Timeline != nil {
		t.Fatalf("a draft has a timeline: %+v", tl.Timeline)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "three texts", func() bool { return len(out.step(id, 0)) == 3 })
	reqs := out.where(func(m events.SendRequested) bool { return m.CampaignID == id })
	h.status(reqs[0], events.StatusSent, "a")
	h.status(reqs[1], events.StatusSent, "b")
	testkit.Eventually(t, "two sent", func() bool {
		var r resultsOut
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
		return r.Sent == 2
	})
	// Forty minutes later one is delivered and a member replies.
	h.clock.Set(h.clock.Now().Add(40 * time.Minute))
	h.status(reqs[0], events.StatusDelivered, "a2")
	h.inbound(id, ms[2].ContactID, ms[2].Phone, "Count me in")
	testkit.Eventually(t, "the delivery and the reply", func() bool {
		var r resultsOut
		call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &r)
		return r.Delivered == 1 && r.Replies == 1
	})
	call(t, "GET", srv.url+"/campaigns/"+id+"/results", nil, &tl)
	if tl.Timeline == nil || tl.Timeline.BucketSeconds != 300 || len(tl.Timeline.Buckets) != 9 {
		t.Fatalf("timeline = %+v, want 5-minute buckets over 40 minutes", tl.Timeline)
	}
	b := tl.Timeline.Buckets
	var sent, delivered, replies int
	for i, x := range b {
		sent, delivered, replies = sent+x.Sent, delivered+x.Delivered, replies+x.Replies
		if i > 0 && !x.At.Equal(b[i-1].At.Add(5*time.Minute)) {
			t.Fatalf("buckets are not 5 minutes apart: %+v", b)
		}
	}
	if sent != 2 || delivered != 1 || replies != 1 || b[0].Sent != 2 || b[len(b)-1].Delivered != 1 || b[len(b)-1].Replies != 1 {
		t.Fatalf("timeline = %+v", b)
	}
}

// sameTime reports whether an RFC 3339 time is the instant want, in
// whatever zone it is written.
func sameTime(got string, want time.Time) bool {
	t, err := time.Parse(time.RFC3339, got)
	return err == nil && t.Equal(want)
}
