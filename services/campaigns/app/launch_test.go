package app_test

import (
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

func rally(n int) []member {
	var out []member
	for i := range n {
		out = append(out, member{Member: events.Member{
			ContactID: "00000000-0000-4000-8000-" + pad12(i), FirstName: "M" + pad12(i)[9:],
			Phone: "+1212555" + pad12(i)[8:], Email: "m" + pad12(i)[8:] + "@example.org",
		}, tags: []string{"rally"}})
	}
	return out
}

func pad12(i int) string {
	s := "000000000000" + itoa(i)
	return s[len(s)-12:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// TestLaunchRefusesWhatCannotBeRight: each refusal is a 4xx naming what
// is wrong, and none changes anything: the campaign stays a draft and
// nothing is published.
func TestLaunchRefusesWhatCannotBeRight(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(3)...)
	srv := h.start()
	out := h.outbox()
	now := h.clock.Now()

	var e errOut
	long := strings.Repeat("x", 1601)
	if code := call(t, "POST", srv.url+"/campaigns", map[string]any{"name": "Long", "body": long, "audience": map[string]string{"tag": "rally"}}, &e); code != 400 || e.Field != "body" || !strings.Contains(e.Error, "1600") {
		t.Errorf("a text over 1,600 characters = %d %+v", code, e)
	}

	id := create(t, srv.url, map[string]any{"name": "Rally", "body": "Hi {{first_name}}. Reply STOP to opt out.", "audience": map[string]string{"tag": "rally"}})
	// contacts here does not answer contacts.member.get: previews fall
	// back to sample data.
	var p struct {
		MemberSource string `json:"member_source"`
		SMS          struct {
			Body string `json:"body"`
		} `json:"sms"`
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/preview", map[string]any{"contact_id": "00000000-0000-4000-8000-000000000001", "sample": map[string]string{"first_name": "Sam"}}, &p); code != 200 ||
		p.MemberSource != "sample" || p.SMS.Body != "Hi Sam. Reply STOP to opt out." {
		t.Errorf("preview without contacts answering = %d %+v", code, p)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", map[string]any{"at": now.Add(-time.Minute)}, &e); code != 400 || e.Field != "at" || !strings.Contains(e.Error, "past") {
		t.Errorf("a schedule in the past = %d %+v", code, e)
	}
	empty := create(t, srv.url, map[string]any{"name": "Nobody", "body": "Hi", "audience": map[string]string{"tag": "nobody"}})
	if code := call(t, "POST", srv.url+"/campaigns/"+empty+"/launch", nil, &e); code != 400 || e.Field != "audience" {
		t.Errorf("an empty audience = %d %+v", code, e)
	}
	for _, c := range []string{id, empty} {
		if got := get(t, srv.url, c).Status; got != "draft" {
			t.Errorf("after a refused launch the campaign is %s, want draft", got)
		}
	}

	// Cancelled, it can never be launched; cancelling again is harmless.
	var l launchOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/cancel", nil, &l); code != 200 || l.Campaign.Status != "cancelled" {
		t.Fatalf("cancel = %d %+v", code, l)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/cancel", nil, nil); code != 200 {
		t.Errorf("second cancel = %d", code)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, &e); code != 409 || !strings.Contains(e.Error, "cancelled") {
		t.Errorf("launching a cancelled campaign = %d %+v", code, e)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/resume", nil, &e); code != 409 {
		t.Errorf("resuming a cancelled campaign = %d %+v", code, e)
	}
	if got := get(t, srv.url, id).Status; got != "cancelled" {
		t.Errorf("status = %s, want cancelled", got)
	}
	if code := call(t, "PUT", srv.url+"/campaigns/"+id, map[string]any{"name": "x", "body": "y", "audience": map[string]string{"tag": "rally"}}, &e); code != 409 {
		t.Errorf("editing a cancelled campaign = %d %+v", code, e)
	}
	// An audience filter goes to contacts as written, beside the tag.
	filtered := create(t, srv.url, map[string]any{"name": "Night", "body": "Hi", "audience": map[string]any{
		"tag": "rally", "filter": map[string]any{"field": "shift", "op": "eq", "value": "night"}}})
	if code := call(t, "GET", srv.url+"/campaigns/"+filtered+"/estimate", nil, nil); code != 200 {
		t.Fatalf("estimate = %d", code)
	}
	h.dir.mu.Lock()
	filters := append([]string(nil), h.dir.filters...)
	h.dir.mu.Unlock()
	var asked map[string]string
	if len(filters) == 0 || json.Unmarshal([]byte(filters[0]), &asked) != nil ||
		!reflect.DeepEqual(asked, map[string]string{"field": "shift", "op": "eq", "value": "night"}) {
		t.Errorf("filters asked of contacts = %q", filters)
	}

	time.Sleep(100 * time.Millisecond) // let anything wrongly published arrive
	if n := out.len(); n != 0 || h.raw.Load() != 0 {
		t.Errorf("refused launches published %d send requests (%d raw)", n, h.raw.Load())
	}
}

// TestScheduledLaunchPauseResume: a launch for later waits for its time;
// a paused campaign sends nothing when its time comes; resumed, it goes.
func TestScheduledLaunchPauseResume(t *testing.T) {
	h := newHarness(t, false, nil)
	h.dir.add(rally(3)...)
	srv := h.start()
	out := h.outbox()
	at := h.clock.Now().Add(2 * time.Hour)

	id := create(t, srv.url, map[string]any{"name": "Later", "body": "Hi {{first_name}}", "audience": map[string]string{"tag": "rally"}})
	var l launchOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", map[string]any{"at": at}, &l); code != 202 || l.Campaign.Status != "scheduled" {
		t.Fatalf("scheduled launch = %d %+v", code, l)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, &l); code != 200 || !l.AlreadyLaunched {
		t.Errorf("second launch = %d %+v, want 200 already launched", code, l)
	}
	h.tick(srv, at.Add(-time.Second))
	if got := get(t, srv.url, id).Status; got != "scheduled" {
		t.Fatalf("before its time the campaign is %s", got)
	}
	var c campaignOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/pause", nil, &c); code != 200 || c.Status != "paused" {
		t.Fatalf("pause = %d %+v", code, c)
	}
	h.tick(srv, at.Add(time.Minute))
	if got := get(t, srv.url, id).Status; got != "paused" {
		t.Fatalf("a paused campaign whose time came is %s", got)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/resume", nil, &c); code != 200 || c.Status != "scheduled" {
		t.Fatalf("resume = %d %+v, want scheduled", code, c)
	}
	h.tick(srv, at.Add(2*time.Minute))
	testkit.Eventually(t, "three texts after resuming", func() bool { return len(out.step(id, 0)) == 3 })
	testkit.Eventually(t, "the campaign to be launched", func() bool { return get(t, srv.url, id).Status == "launched" })
	if c := get(t, srv.url, id); c.Targeted != 3 {
		t.Errorf("targeted = %d, want 3", c.Targeted)
	}
}
