package app_test

import (
	"encoding/base64"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// people are four members of a meeting: Ana and Bo by text, Cy by text
// and email, Di by email only.
var people = map[string]member{
	"Ana": {Member: events.Member{ContactID: "00000000-0000-4000-8000-00000000000a", FirstName: "Ana", Phone: "+12125550101"}, tags: []string{"gmm"}},
	"Bo":  {Member: events.Member{ContactID: "00000000-0000-4000-8000-00000000000b", FirstName: "Bo", Phone: "+12125550102"}, tags: []string{"gmm"}},
	"Cy":  {Member: events.Member{ContactID: "00000000-0000-4000-8000-00000000000c", FirstName: "Cy", Phone: "+12125550103", Email: "cy@example.org"}, tags: []string{"gmm"}},
	"Di":  {Member: events.Member{ContactID: "00000000-0000-4000-8000-00000000000d", FirstName: "Di", Email: "di@example.org", Language: "es"}, tags: []string{"gmm"}},
}

// who turns "contact/channel" entries into "Name/channel".
func who(list []string) []string {
	out := []string{}
	for _, e := range list {
		id, ch, _ := strings.Cut(e, "/")
		for name, p := range people {
			if p.ContactID == id {
				id = name
			}
		}
		out = append(out, id+"/"+ch)
	}
	sort.Strings(out)
	return out
}

type stepOut struct {
	Step   int    `json:"step"`
	Kind   string `json:"kind"`
	Offset string `json:"offset"`
	DueAt  string `json:"due_at"`
	Status string `json:"status"`
}

func steps(t *testing.T, base, id string) []stepOut {
	t.Helper()
	var out struct {
		Steps []stepOut `json:"steps"`
	}
	if code := call(t, "GET", base+"/campaigns/"+id+"/steps", nil, &out); code != 200 {
		t.Fatalf("steps = %d", code)
	}
	return out.Steps
}

func findStep(t *testing.T, base, id, kind, offset, status string) stepOut {
	t.Helper()
	for _, s := range steps(t, base, id) {
		if s.Kind == kind && s.Offset == offset && (status == "" || s.Status == status) {
			return s
		}
	}
	t.Fatalf("no %s step %s %s in %+v", kind, offset, status, steps(t, base, id))
	return stepOut{}
}

type rsvpCount struct {
	Yes, No int
}

func rsvps(t *testing.T, base, id string) rsvpCount {
	t.Helper()
	var r struct {
		RSVPs struct {
			Yes int `json:"yes"`
			No  int `json:"no"`
		} `json:"rsvps"`
	}
	call(t, "GET", base+"/campaigns/"+id+"/results", nil, &r)
	return rsvpCount{r.RSVPs.Yes, r.RSVPs.No}
}

// TestMeetingRemindersFollowRSVPsAndTheClock is the meeting story driven
// by a controllable clock: the invitation goes to everyone (with a
// calendar file by email); YES and NO by text and YES by email link are
// recorded and answered; the -24h and -2h reminders go, at their times,
// to those who said yes or nothing, never to those who said no; moving
// the meeting tells those who said yes and moves the reminders with it.
func TestMeetingRemindersFollowRSVPsAndTheClock(t *testing.T) {
	h := newHarness(t, false, nil)
	for _, p := range people {
		h.dir.add(p)
	}
	srv := h.start()
	out := h.outbox()
	start := h.began.Add(80 * time.Hour) // Friday 6 PM in New York

	id := create(t, srv.url, map[string]any{
		"name": "December GMM", "kind": "meeting", "channel": "both",
		"body":     "Local 1199: {{meeting_title}} is {{meeting_time}} at {{meeting_place}}. Reply YES or NO. Reply STOP to opt out.",
		"email":    map[string]string{"subject": "{{meeting_title}}", "text": "Hi {{first_name}}, will you come? {{rsvp_link}}"},
		"audience": map[string]string{"tag": "gmm"},
		"meeting":  map[string]any{"title": "General meeting", "starts_at": start, "place": "Union Hall", "reminders": []string{"-24h", "-2h"}},
	})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	invited(t, srv.url, id, out, 5)
	if got, want := who(out.step(id, 0)), []string{"Ana/sms", "Bo/sms", "Cy/email", "Cy/sms", "Di/email"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("invited %v, want %v", got, want)
	}
	inv := out.where(func(m events.SendRequested) bool { return m.Step == 0 && m.To == "di@example.org" })[0]
	ics, _ := base64.StdEncoding.DecodeString(inv.Attachments[0].Content)
	if inv.Attachments[0].Filename != "meeting.ics" || !strings.Contains(string(ics), "DTSTART:20261204T230000Z") || !strings.Contains(string(ics), "SEQUENCE:0") {
		t.Errorf("Di's invitation calendar = %s", ics)
	}

	// Ana and Bo answer by text; Di by the link in her email.
	h.inbound(id, people["Ana"].ContactID, people["Ana"].Phone, "Yes I'll be there")
	h.inbound(id, people["Bo"].ContactID, people["Bo"].Phone, "no sorry")
	testkit.Eventually(t, "two answers by text", func() bool { return rsvps(t, srv.url, id) == rsvpCount{1, 1} })
	replyTo := func(phone string) []events.SendRequested {
		return out.where(func(m events.SendRequested) bool {
			return m.To == phone && strings.HasPrefix(m.IdempotencyKey, "c."+id+".r.")
		})
	}
	testkit.Eventually(t, "the auto-replies", func() bool { return len(replyTo(people["Ana"].Phone)) == 1 && len(replyTo(people["Bo"].Phone)) == 1 })
	if got := replyTo(people["Ana"].Phone)[0]; got.Body != "Thanks, Ana! You're on the list for General meeting, Friday, December 4 at 6:00 PM EST." || !got.Urgent {
		t.Errorf("Ana's auto-reply = %+v", got)
	}
	if got := replyTo(people["Bo"].Phone)[0].Body; got != "Thanks for letting us know, Bo." {
		t.Errorf("Bo's auto-reply = %q", got)
	}
	link := inv.Body[strings.Index(inv.Body, "http"):]
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<form method="post">`) {
		t.Fatalf("RSVP page = %d %s", resp.StatusCode, page)
	}
	if rsvps(t, srv.url, id) != (rsvpCount{1, 1}) {
		t.Fatal("opening the link (a mail scanner does) recorded an answer")
	}
	resp, err = http.PostForm(link, url.Values{"answer": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || rsvps(t, srv.url, id) != (rsvpCount{2, 1}) {
		t.Fatalf("RSVP by link = %d, counts %+v", resp.StatusCode, rsvps(t, srv.url, id))
	}

	// The clock, not the wall: nothing a hair before -24h, then the
	// first reminder to everyone but Bo.
	h.tick(srv, start.Add(-25*time.Hour))
	if s := findStep(t, srv.url, id, "reminder", "-24h0m0s", ""); s.Status != "pending" {
		t.Fatalf("reminder at -25h is %s", s.Status)
	}
	h.tick(srv, start.Add(-24*time.Hour))
	first := findStep(t, srv.url, id, "reminder", "-24h0m0s", "")
	testkit.Eventually(t, "the -24h reminder", func() bool { return findStep(t, srv.url, id, "reminder", "-24h0m0s", "").Status == "done" })
	if got, want := who(out.step(id, first.Step)), []string{"Ana/sms", "Cy/email", "Cy/sms", "Di/email"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("-24h reminder went to %v, want %v", got, want)
	}

	// Cy says no after all; then the meeting moves a day later.
	h.inbound(id, people["Cy"].ContactID, people["Cy"].Phone, "NO")
	testkit.Eventually(t, "Cy's no", func() bool { return rsvps(t, srv.url, id) == rsvpCount{2, 2} })
	moved := start.Add(24 * time.Hour)
	var ch struct {
		Campaign struct {
			Revision int `json:"revision"`
		} `json:"campaign"`
		Notified bool `json:"notified"`
	}
	if code := call(t, "PATCH", srv.url+"/campaigns/"+id+"/meeting", map[string]any{"starts_at": moved}, &ch); code != 200 || !ch.Notified || ch.Campaign.Revision != 1 {
		t.Fatalf("moving the meeting = %d %+v", code, ch)
	}
	h.tick(srv, h.clock.Now())
	update := findStep(t, srv.url, id, "update", "", "")
	testkit.Eventually(t, "the update notice", func() bool { return findStep(t, srv.url, id, "update", "", "").Status == "done" })
	if got, want := who(out.step(id, update.Step)), []string{"Ana/sms", "Di/email"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the update went to %v, want only those who said yes", got)
	}
	text := out.where(func(m events.SendRequested) bool { return m.Step == update.Step && m.Channel == events.ChannelSMS })[0]
	if !strings.Contains(text.Body, "Saturday, December 5 at 6:00 PM EST") {
		t.Errorf("update text = %q", text.Body)
	}
	email := out.where(func(m events.SendRequested) bool { return m.Step == update.Step && m.Channel == events.ChannelEmail })[0]
	ics, _ = base64.StdEncoding.DecodeString(email.Attachments[0].Content)
	if !strings.Contains(string(ics), "SEQUENCE:1") || !strings.Contains(string(ics), "DTSTART:20261205T230000Z") || !strings.Contains(email.Subject, "sábado 5 de diciembre") {
		t.Errorf("Di's update: subject %q, calendar %s", email.Subject, ics)
	}

	// The old -2h time passes with nothing sent; the -24h reminder goes
	// again for the new time, and -2h at its new time, to Ana and Di.
	h.tick(srv, start.Add(-2*time.Hour))
	if s := findStep(t, srv.url, id, "reminder", "-2h0m0s", ""); s.Status != "pending" {
		t.Fatalf("-2h reminder at the old time is %s", s.Status)
	}
	h.tick(srv, moved.Add(-24*time.Hour))
	testkit.Eventually(t, "the second -24h reminder", func() bool {
		for _, s := range steps(t, srv.url, id) {
			if s.Kind == "reminder" && s.Offset == "-24h0m0s" && s.Step != first.Step && s.Status == "done" {
				return true
			}
		}
		return false
	})
	var second stepOut
	for _, s := range steps(t, srv.url, id) {
		if s.Kind == "reminder" && s.Offset == "-24h0m0s" && s.Step != first.Step {
			second = s
		}
	}
	if got, want := who(out.step(id, second.Step)), []string{"Ana/sms", "Di/email"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second -24h reminder went to %v, want %v", got, want)
	}
	last := findStep(t, srv.url, id, "reminder", "-2h0m0s", "")
	h.tick(srv, moved.Add(-2*time.Hour))
	testkit.Eventually(t, "the -2h reminder", func() bool { return findStep(t, srv.url, id, "reminder", "-2h0m0s", "").Status == "done" })
	if got, want := who(out.step(id, last.Step)), []string{"Ana/sms", "Di/email"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("-2h reminder went to %v, want %v", got, want)
	}
	rem := out.where(func(m events.SendRequested) bool { return m.Step == last.Step && m.Channel == events.ChannelSMS })[0]
	if !strings.Contains(rem.Body, "Saturday, December 5 at 6:00 PM EST") {
		t.Errorf("reminder text = %q", rem.Body)
	}

	// The RSVP list says who answered what.
	var list struct {
		RSVPs []struct {
			FirstName string `json:"first_name"`
			Answer    string `json:"answer"`
			Source    string `json:"source"`
		} `json:"rsvps"`
	}
	call(t, "GET", srv.url+"/campaigns/"+id+"/rsvps", nil, &list)
	got := map[string]string{}
	for _, r := range list.RSVPs {
		got[r.FirstName] = r.Answer + "/" + r.Source
	}
	if want := map[string]string{"Ana": "yes/reply", "Bo": "no/reply", "Cy": "no/reply", "Di": "yes/link"}; !reflect.DeepEqual(got, want) {
		t.Errorf("RSVP list = %v, want %v", got, want)
	}
	// Cancelled, the meeting tells those who said yes, calendars included.
	var cancelled struct {
		Notified bool `json:"notified"`
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/cancel", map[string]string{"notice": "{{meeting_title}} is off: the hall flooded."}, &cancelled); code != 200 || !cancelled.Notified {
		t.Fatalf("cancel = %d %+v", code, cancelled)
	}
	h.tick(srv, h.clock.Now())
	notice := findStep(t, srv.url, id, "cancel", "", "")
	testkit.Eventually(t, "the cancellation notice", func() bool { return findStep(t, srv.url, id, "cancel", "", "").Status == "done" })
	if got, want := who(out.step(id, notice.Step)), []string{"Ana/sms", "Di/email"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the cancellation went to %v, want only those who said yes", got)
	}
	for _, m := range out.where(func(m events.SendRequested) bool { return m.Step == notice.Step }) {
		if m.Channel == events.ChannelSMS && m.Body != "General meeting is off: the hall flooded." {
			t.Errorf("cancellation text = %q", m.Body)
		}
		if m.Channel == events.ChannelEmail {
			ics, _ := base64.StdEncoding.DecodeString(m.Attachments[0].Content)
			if !strings.Contains(string(ics), "METHOD:CANCEL") {
				t.Errorf("cancellation calendar = %s", ics)
			}
		}
	}

	// Each message went out once: every key once in the stream.
	for k, n := range out.keys {
		if n != 1 {
			t.Errorf("%s published %d times", k, n)
		}
	}
}
