package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/events"
)

type petitionResults struct {
	Signatures *int `json:"signatures"`
	Calls      *int `json:"calls"`
	Goal       int  `json:"goal"`
	Replies    int  `json:"replies"`
	InboxOpen  int  `json:"inbox_open"`
}

func petitionNumbers(t *testing.T, base, id string) petitionResults {
	t.Helper()
	var r petitionResults
	if code := call(t, "GET", base+"/campaigns/"+id+"/results", nil, &r); code != 200 || r.Signatures == nil || r.Calls == nil {
		t.Fatalf("results = %d %+v", code, r)
	}
	return r
}

// signLink finds the signing link in a request's text.
func signLink(t *testing.T, req events.SendRequested) string {
	t.Helper()
	i := strings.Index(req.Body, "http")
	if i < 0 {
		t.Fatalf("no link in %q", req.Body)
	}
	return strings.Fields(req.Body[i:])[0]
}

func postSign(t *testing.T, link string) int {
	t.Helper()
	resp, err := http.PostForm(link, url.Values{"sign": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestPetitionSignaturesCountOncePerMember: Ana signs by texting SIGN and
// then clicks the link in her email; Bo clicks first and texts after; a
// redelivered SIGN changes nothing. Each counts once, each is thanked
// once (by text, for the text), and the list and CSV export agree.
// Calls are counted the same way.
func TestPetitionSignaturesCountOncePerMember(t *testing.T) {
	h := newHarness(t, false, nil)
	ana := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000a1", FirstName: "Ana", LastName: "Ruiz", Phone: "+12125550111", Email: "ana@example.org"}, tags: []string{"staff"}}
	bo := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000b1", FirstName: "Bo", Phone: "+12125550112", Email: "bo@example.org"}, tags: []string{"staff"}}
	h.dir.add(ana, bo)
	srv := h.start()
	out := h.outbox()

	id := create(t, srv.url, map[string]any{
		"name": "Safe staffing", "kind": "petition", "channel": "both",
		"body":     "Local 1199: sign for safe staffing, reply {{sign_keyword}} or tap {{sign_link}} Then call {{call_number}}. Reply STOP to opt out.",
		"email":    map[string]string{"subject": "Sign for safe staffing", "text": "Sign here: {{sign_link}}"},
		"audience": map[string]string{"tag": "staff"},
		"petition": map[string]any{"goal": 100, "call": map[string]string{"number": "+12025550100", "script": "I am a member and I support safe staffing."}},
	})
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	invited(t, srv.url, id, out, 4)
	mine := func(m member, ch events.Channel) events.SendRequested {
		return out.where(func(r events.SendRequested) bool { return r.Step == 0 && r.ContactID == m.ContactID && r.Channel == ch })[0]
	}
	thanks := func(phone string) []events.SendRequested {
		return out.where(func(r events.SendRequested) bool {
			return r.To == phone && strings.HasPrefix(r.IdempotencyKey, "c."+id+".r.")
		})
	}
	if !strings.Contains(mine(ana, events.ChannelSMS).Body, "reply SIGN or tap http") {
		t.Errorf("ask text = %q", mine(ana, events.ChannelSMS).Body)
	}

	// Ana: SIGN by text (delivered twice, as a redelivery would), then the
	// email link.
	sign := h.inbound(id, ana.ContactID, ana.Phone, "sign")
	h.publishInbound(sign, "redelivered-"+sign.ID)
	testkit.Eventually(t, "Ana's signature", func() bool { return *petitionNumbers(t, srv.url, id).Signatures == 1 })
	testkit.Eventually(t, "Ana's thank-you", func() bool { return len(thanks(ana.Phone)) == 1 })
	if got := thanks(ana.Phone)[0].Body; got != "Thank you for signing, Ana!" {
		t.Errorf("thank-you = %q", got)
	}
	link := signLink(t, mine(ana, events.ChannelEmail))
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if code := postSign(t, link); resp.StatusCode != 200 || code != 200 {
		t.Fatalf("signing page = %d, sign = %d", resp.StatusCode, code)
	}

	// Bo: the link in his text first, then SIGN by text.
	if code := postSign(t, signLink(t, mine(bo, events.ChannelSMS))); code != 200 {
		t.Fatalf("Bo's sign by link = %d", code)
	}
	h.inbound(id, bo.ContactID, bo.Phone, "SIGNED!")
	// And a call reported by both.
	h.inbound(id, ana.ContactID, ana.Phone, "I called")
	h.inbound(id, bo.ContactID, bo.Phone, "called")
	testkit.Eventually(t, "every reply handled", func() bool { return petitionNumbers(t, srv.url, id).Replies == 4 })
	testkit.Eventually(t, "both calls", func() bool { return *petitionNumbers(t, srv.url, id).Calls == 2 })

	r := petitionNumbers(t, srv.url, id)
	if *r.Signatures != 2 || r.Goal != 100 || r.InboxOpen != 0 {
		t.Errorf("results = signatures %d, goal %d, inbox %d; want 2, 100, 0", *r.Signatures, r.Goal, r.InboxOpen)
	}
	if n := len(thanks(bo.Phone)); n != 1 {
		t.Errorf("Bo got %d thank-yous, want 1 (for his call; his SIGN came after the link)", n)
	}
	if n := len(thanks(ana.Phone)); n != 2 {
		t.Errorf("Ana got %d thank-yous, want 2 (signing, calling)", n)
	}
	var list struct {
		Count      int `json:"count"`
		Goal       int `json:"goal"`
		Signatures []struct {
			FirstName string `json:"first_name"`
			Channel   string `json:"channel"`
			Source    string `json:"source"`
		} `json:"signatures"`
	}
	call(t, "GET", srv.url+"/campaigns/"+id+"/signatures", nil, &list)
	if list.Count != 2 || len(list.Signatures) != 2 || list.Goal != 100 {
		t.Fatalf("signature list = %+v", list)
	}
	bySource := map[string]string{}
	for _, s := range list.Signatures {
		bySource[s.FirstName] = s.Channel + "/" + s.Source
	}
	if bySource["Ana"] != "sms/reply" || bySource["Bo"] != "sms/link" {
		t.Errorf("signatures by channel and source = %v", bySource)
	}
	rows := getCSV(t, srv.url+"/campaigns/"+id+"/signatures?format=csv")
	if len(rows) != 3 || rows[0][0] != "contact_id" {
		t.Fatalf("CSV = %v", rows)
	}
	names := rows[1][1] + "," + rows[2][1]
	if names != "Ana,Bo" {
		t.Errorf("CSV names in signing order = %s", names)
	}
	// A forged or altered link records nothing.
	resp, err = http.PostForm(link[:len(link)-3]+"abc", url.Values{"sign": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "not valid") {
		t.Errorf("altered link = %d %s", resp.StatusCode, body)
	}
	if *petitionNumbers(t, srv.url, id).Signatures != 2 {
		t.Error("an altered link changed the count")
	}
}
