package app_test

import (
	"bytes"
	"encoding/csv"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

// formula is a cell a spreadsheet would run. Members' names reach the
// RSVP, signature and call exports as the contact list has them.
const formula = `=HYPERLINK("http://x","y")`

// getCSV fetches a CSV export and reads it, byte order mark and all.
func getCSV(t *testing.T, u string) [][]string {
	t.Helper()
	resp, err := api().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, raw)
	}
	if !bytes.HasPrefix(raw, []byte("\uFEFF")) {
		t.Fatalf("GET %s: no byte order mark for Excel", u)
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\uFEFF")))).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return rows
}

func TestExportsNeutralizeFormulas(t *testing.T) {
	h := newHarness(t, false, nil)
	eve := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000e1", FirstName: formula, LastName: "@SUM(A1)", Phone: "+12125550199"}, tags: []string{"all"}}
	h.dir.add(eve)
	srv := h.start()
	out := h.outbox()

	meeting := create(t, srv.url, map[string]any{
		"name": "GMM", "kind": "meeting", "channel": "sms",
		"body":     "Local 1199: {{meeting_title}} is {{meeting_time}}. Reply YES or NO. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "all"},
		"meeting":  map[string]any{"title": "General meeting", "starts_at": h.began.Add(80 * time.Hour), "place": "Union Hall"},
	})
	petition := create(t, srv.url, map[string]any{
		"name": "Safe staffing", "kind": "petition", "channel": "sms",
		"body":     "Local 1199: reply {{sign_keyword}} to sign, then call {{call_number}}. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "all"},
		"petition": map[string]any{"goal": 10, "call": map[string]string{"number": "+12025550100", "script": "I support safe staffing."}},
	})
	for _, id := range []string{meeting, petition} {
		if code := call(t, "POST", srv.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
			t.Fatalf("launch = %d", code)
		}
		invited(t, srv.url, id, out, 1)
	}
	h.inbound(meeting, eve.ContactID, eve.Phone, "yes")
	h.inbound(petition, eve.ContactID, eve.Phone, "sign")
	h.inbound(petition, eve.ContactID, eve.Phone, "called")
	testkit.Eventually(t, "the RSVP, signature and call", func() bool {
		r := petitionNumbers(t, srv.url, petition)
		return rsvps(t, srv.url, meeting).Yes == 1 && *r.Signatures == 1 && *r.Calls == 1
	})

	for _, path := range []string{
		"/campaigns/" + meeting + "/rsvps?format=csv",
		"/campaigns/" + petition + "/signatures?format=csv",
		"/campaigns/" + petition + "/calls?format=csv",
	} {
		rows := getCSV(t, srv.url+path)
		if len(rows) != 2 || rows[0][1] != "first_name" || rows[0][2] != "last_name" {
			t.Fatalf("%s = %q", path, rows)
		}
		if rows[1][1] != "'"+formula || rows[1][2] != "'@SUM(A1)" {
			t.Errorf("%s row = %q, want the name neutralized", path, rows[1])
		}
	}
}
