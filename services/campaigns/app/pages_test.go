package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/shared/events"
)

// The RSVP and signing pages members open from their links send the
// member-page headers on every answer: the page, the answer to its form,
// and the refusal of a forged link.
func TestMemberPagesSendSecurityHeaders(t *testing.T) {
	h := newHarness(t, false, nil)
	ana := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000a1", FirstName: "Ana", Phone: "+12125550111"}, tags: []string{"all"}}
	h.dir.add(ana)
	srv := h.start()
	out := h.outbox()

	meeting := create(t, srv.url, map[string]any{
		"name": "GMM", "kind": "meeting", "channel": "sms",
		"body":     "Local 1199: {{meeting_title}}, answer at {{rsvp_link}} Reply STOP to opt out.",
		"audience": map[string]string{"tag": "all"},
		"meeting":  map[string]any{"title": "General meeting", "starts_at": h.began.Add(80 * time.Hour), "place": "Union Hall"},
	})
	petition := create(t, srv.url, map[string]any{
		"name": "Safe staffing", "kind": "petition", "channel": "sms",
		"body":     "Local 1199: sign at {{sign_link}} Reply STOP to opt out.",
		"audience": map[string]string{"tag": "all"},
		"petition": map[string]any{"goal": 10},
	})
	link := map[string]string{}
	for _, id := range []string{meeting, petition} {
		if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
			t.Fatalf("launch = %d", code)
		}
		testkit.Eventually(t, "the ask", func() bool { return len(out.step(id, 0)) == 1 })
		ask := out.where(func(r events.SendRequested) bool { return r.CampaignID == id && r.Step == 0 })[0]
		link[id] = signLink(t, ask) // the first URL in the text
	}
	base, _ := url.Parse(link[meeting])
	forged := base.Scheme + "://" + base.Host

	for _, tc := range []struct {
		name, method, url string
		form              url.Values
	}{
		{"RSVP page", http.MethodGet, link[meeting], nil},
		{"RSVP answer", http.MethodPost, link[meeting], url.Values{"answer": {"yes"}}},
		{"forged RSVP link", http.MethodGet, forged + message.RSVPPath + "forged", nil},
		{"signing page", http.MethodGet, link[petition], nil},
		{"signature", http.MethodPost, link[petition], url.Values{"sign": {"1"}}},
		{"forged signing link", http.MethodPost, forged + message.SignPath + "forged", url.Values{"sign": {"1"}}},
	} {
		var resp *http.Response
		var err error
		if tc.method == http.MethodGet {
			resp, err = http.Get(tc.url)
		} else {
			resp, err = http.PostForm(tc.url, tc.form)
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		hd := resp.Header
		want := map[string]string{
			"Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
			"Referrer-Policy":         "no-referrer",
			"Cache-Control":           "no-store",
		}
		for k, v := range want {
			if got := hd.Get(k); got != v {
				t.Errorf("%s (%d): %s = %q, want %q", tc.name, resp.StatusCode, k, got, v)
			}
		}
		if strings.HasPrefix(tc.name, "forged") != (resp.StatusCode >= 400) {
			t.Errorf("%s = %d", tc.name, resp.StatusCode)
		}
	}
}

// A meeting's name is for organizers: the RSVP page and its answer call a
// meeting with no title of its own "the meeting".
func TestMemberPagesNeverShowTheInternalName(t *testing.T) {
	h := newHarness(t, false, nil)
	ana := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000a1", FirstName: "Ana", Phone: "+12125550111"}, tags: []string{"all"}}
	h.dir.add(ana)
	srv := h.start()
	out := h.outbox()
	id := create(t, srv.url, map[string]any{
		"name": "Stewards meeting Tue", "kind": "meeting", "channel": "sms",
		"body":     "Local 1199: {{meeting_title}}, answer at {{rsvp_link}} Reply STOP to opt out.",
		"audience": map[string]string{"tag": "all"},
		"meeting":  map[string]any{"starts_at": h.began.Add(80 * time.Hour), "place": "Union Hall"},
	})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "the invitation", func() bool { return len(out.step(id, 0)) == 1 })
	ask := out.where(func(r events.SendRequested) bool { return r.CampaignID == id && r.Step == 0 })[0]
	if !strings.HasPrefix(ask.Body, "Local 1199: the meeting, answer at") {
		t.Errorf("invitation = %q", ask.Body)
	}
	link := signLink(t, ask)
	read := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := read(http.Get(link))
	if !strings.Contains(page, "<strong>The meeting</strong>") || strings.Contains(page, "Stewards") {
		t.Errorf("RSVP page:\n%s", page)
	}
	answer := read(http.PostForm(link, url.Values{"answer": {"yes"}}))
	if !strings.Contains(answer, "You&#39;re on the list for the meeting.") && !strings.Contains(answer, "You're on the list for the meeting.") {
		t.Errorf("RSVP answer:\n%s", answer)
	}
	if strings.Contains(answer, "Stewards") {
		t.Errorf("the answer page names the meeting by its internal name:\n%s", answer)
	}
}

// A petition's sign page shows its own title, or plain words when it has
// none: never the internal name.
func TestTheSignPageShowsThePublicTitle(t *testing.T) {
	h := newHarness(t, false, nil)
	ana := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000a2", FirstName: "Ana", Phone: "+12125550112"}, tags: []string{"all"}}
	h.dir.add(ana)
	srv := h.start()
	out := h.outbox()
	for title, want := range map[string]string{"Fund our clinic": "<h1>Fund our clinic</h1>", "": "<h1>Sign the petition</h1>"} {
		id := create(t, srv.url, map[string]any{
			"name": "Clinic push (internal)", "kind": "petition", "channel": "sms",
			"body":     "Local 1199: sign at {{sign_link}} Reply STOP to opt out.",
			"audience": map[string]string{"tag": "all"},
			"petition": map[string]any{"title": title},
		})
		if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
			t.Fatalf("launch = %d", code)
		}
		testkit.Eventually(t, "the ask", func() bool { return len(out.step(id, 0)) == 1 })
		ask := out.where(func(r events.SendRequested) bool { return r.CampaignID == id && r.Step == 0 })[0]
		resp, err := http.Get(signLink(t, ask))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if page := string(b); !strings.Contains(page, want) || strings.Contains(page, "internal") {
			t.Errorf("sign page for title %q:\n%s", title, page)
		}
	}
}
