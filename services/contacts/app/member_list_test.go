package app_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/testkit"
)

func upload(t *testing.T, base, query string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := api().Post(base+"/imports"+query, "text/csv", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func getCSV(t *testing.T, u string) [][]string {
	t.Helper()
	resp, err := api().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, raw)
	}
	if !bytes.HasPrefix(raw, []byte("\uFEFF")) {
		t.Fatalf("GET %s: no byte order mark for Excel", u)
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\uFEFF"))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return rows
}

func TestImportOverHTTP(t *testing.T) {
	base, _ := start(t)
	file := "Member ID,First Name,Last Name,Cell,E-mail,Site,Tags\n" +
		"M1,Ana,Ruiz,(212) 555-0101,ana@x.org,North Clinic,\"steward, night-shift\"\n" +
		"M2,Bo,Chen,555-CALL-NOW,bo@x.org,Harbor,\n" +
		"M3,Cy,Okafor,2125550103,cy@,Harbor,\n" +
		",Ana,,212.555.0101,,,rally\n"

	// A dry run first: counts, and nothing written.
	code, imp := upload(t, base, "?dry_run=true&source=members.csv", []byte(file))
	if code != http.StatusAccepted || imp["dry_run"] != true || imp["source"] != "members.csv" {
		t.Fatalf("dry run upload = %d %v", code, imp)
	}
	dry := waitImport(t, base, imp["id"].(string))
	if dry["state"] != "done" || dry["new"] != 1.0 || dry["merged"] != 1.0 || dry["rejected"] != 2.0 {
		t.Fatalf("dry run = %v", dry)
	}
	var list struct{ Contacts []contactJSON }
	call(t, "GET", base+"/contacts", nil, &list)
	if len(list.Contacts) != 0 {
		t.Fatalf("a dry run wrote %d contacts", len(list.Contacts))
	}

	// The real thing, as a multipart form with options as JSON.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("options", `{"mapping": {"Site": "worksite", "#2": "first_name"}}`)
	fw, _ := mw.CreateFormFile("file", "members.csv")
	_, _ = fw.Write([]byte(file))
	_ = mw.Close()
	resp, err := api().Post(base+"/imports", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&imp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") != "/imports/"+imp["id"].(string) || imp["source"] != "members.csv" {
		t.Fatalf("multipart upload = %d %v", resp.StatusCode, imp)
	}
	done := waitImport(t, base, imp["id"].(string))
	if done["state"] != "done" || done["rows_read"] != 4.0 || done["imported"] != 2.0 || done["rejected"] != 2.0 || done["new"] != 1.0 || done["merged"] != 1.0 {
		t.Fatalf("import = %v", done)
	}
	errs := getCSV(t, base+"/imports/"+imp["id"].(string)+"/errors.csv")
	want := [][]string{{"line", "column", "reason"}, {"3", "Cell", `phone: "555-CALL-NOW" contains letters`}, {"4", "E-mail", `email: "cy@" has no domain after the @`}}
	if fmt.Sprint(errs) != fmt.Sprint(want) {
		t.Errorf("errors.csv = %q\nwant %q", errs, want)
	}
	merges := getCSV(t, base+"/imports/"+imp["id"].(string)+"/merges.csv")
	if len(merges) != 2 || merges[1][0] != "5" || !strings.Contains(merges[1][2], "same phone as line 2") {
		t.Errorf("merges.csv = %q", merges)
	}
	call(t, "GET", base+"/contacts", nil, &list)
	if len(list.Contacts) != 1 {
		t.Fatalf("contacts = %+v", list.Contacts)
	}
	c := list.Contacts[0]
	if c.MemberID != "M1" || c.Phone != "+12125550101" || c.Attributes["worksite"] != "North Clinic" || strings.Join(c.Tags, ",") != "steward,night-shift,rally" {
		t.Errorf("contact = %+v", c)
	}

	// Files that cannot be imported at all are refused at once.
	for _, bad := range []struct{ body, says string }{
		{"", "the file is empty"},
		{"First Name,Cell\n", "header row but no data rows"},
		{"\x00\x01\x02binary", "not a CSV file"},
	} {
		code, out := upload(t, base, "", []byte(bad.body))
		if code != http.StatusBadRequest || out["field"] != "file" || !strings.Contains(fmt.Sprint(out["error"]), bad.says) {
			t.Errorf("upload %q = %d %v, want 400 saying %q", bad.body, code, out, bad.says)
		}
	}
	if code, out := upload(t, base, "?mapping=nope", []byte(file)); code != http.StatusBadRequest || out["field"] != "mapping" {
		t.Errorf("bad mapping = %d %v", code, out)
	}
	if code, _ := call(t, "GET", base+"/imports/00000000-0000-0000-0000-000000000000", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown import = %d", code)
	}
}

func TestListSearchTagsCountAndExport(t *testing.T) {
	base, _ := start(t)
	ana := mustCreate(t, base, map[string]any{"first_name": "Ana", "last_name": "Ruiz", "phone": "2125550101", "email": "ana@x.org",
		"tags": []string{"night-shift"}, "attributes": map[string]string{"worksite": "North Clinic", "employer": "Mercy"}, "language": "es"})
	mustCreate(t, base, map[string]any{"first_name": "Bo", "last_name": "Chen", "phone": "2125550102",
		"tags": []string{"night-shift"}, "attributes": map[string]string{"worksite": "Harbor"}})
	mustCreate(t, base, map[string]any{"first_name": "=cmd|' /C calc'!A0", "last_name": "@SUM(1)", "email": "cy@x.org",
		"attributes": map[string]string{"worksite": "North Clinic", "notes": "-2+3"}})
	names := func(query string) string {
		t.Helper()
		var out struct{ Contacts []contactJSON }
		if code, raw := call(t, "GET", base+"/contacts?"+query, nil, &out); code != 200 {
			t.Fatalf("list %s = %d %s", query, code, raw)
		}
		var n []string
		for _, c := range out.Contacts {
			n = append(n, c.FirstName)
		}
		sort.Strings(n)
		return strings.Join(n, ",")
	}
	for q, want := range map[string]string{
		"tag=night-shift":                        "Ana,Bo",
		"worksite=north+clinic":                  "=cmd|' /C calc'!A0,Ana",
		"employer=Mercy&language=es":             "Ana",
		"has_phone=false":                        "=cmd|' /C calc'!A0",
		"has_email=true&tag=night-shift":         "Ana",
		"q=ruiz":                                 "Ana",
		"sms_consent=subscribed&has_email=false": "Bo",
		"filter=" + url.QueryEscape(`{"not":{"tag":"night-shift"}}`): "=cmd|' /C calc'!A0",
	} {
		if got := names(q); got != want {
			t.Errorf("list %s = %q, want %q", q, got, want)
		}
	}
	if code, _ := call(t, "GET", base+"/contacts?sms_consent=maybe", nil, nil); code != 400 {
		t.Errorf("bad consent filter = %d", code)
	}

	var changed map[string]int
	code, raw := call(t, "POST", base+"/contacts/tags", map[string]any{"filter": map[string]any{"field": "worksite", "value": "North Clinic"}, "add": []string{"Rally"}}, &changed)
	if code != 200 || changed["changed"] != 2 {
		t.Fatalf("bulk tags = %d %s", code, raw)
	}
	if code, _ := call(t, "POST", base+"/contacts/tags", map[string]any{"add": []string{"x"}}, nil); code != 400 {
		t.Errorf("bulk tags with no filter = %d, want 400", code)
	}
	if got := names("tag=rally"); got != "=cmd|' /C calc'!A0,Ana" {
		t.Errorf("tagged rally = %q", got)
	}

	var count map[string]any
	code, raw = call(t, "POST", base+"/audiences/count", map[string]any{"filter": map[string]any{"tag": "rally"}, "channel": "sms"}, &count)
	if code != 200 || count["total"] != 2.0 || count["reachable"] != 1.0 || count["unreachable"] != 1.0 {
		t.Fatalf("count = %d %s", code, raw)
	}

	rows := getCSV(t, base+"/contacts/export.csv?worksite=North+Clinic")
	header := rows[0]
	col := func(name string) int {
		for i, h := range header {
			if h == name {
				return i
			}
		}
		t.Fatalf("export has no column %s: %v", name, header)
		return -1
	}
	if len(rows) != 3 {
		t.Fatalf("export = %q", rows)
	}
	byID := map[string][]string{}
	for _, r := range rows[1:] {
		byID[r[col("contact_id")]] = r
	}
	a := byID[ana.ID]
	if a == nil || a[col("phone")] != "'+12125550101" || a[col("sms_consent")] != "subscribed" || a[col("worksite")] != "North Clinic" {
		t.Errorf("Ana's row = %q", a)
	}
	for _, r := range rows[1:] {
		if r[col("contact_id")] == ana.ID {
			continue
		}
		if r[col("first_name")] != "'=cmd|' /C calc'!A0" || r[col("last_name")] != "'@SUM(1)" || r[col("attributes.notes")] != "'-2+3" {
			t.Errorf("formulas not neutralized: %q", r)
		}
		if r[col("sms_consent")] != "" {
			t.Errorf("a contact without a phone has sms consent %q", r[col("sms_consent")])
		}
	}
}

func TestAudiencePagesByTagFilterOrBoth(t *testing.T) {
	base, ns := start(t)
	mustCreate(t, base, map[string]any{"first_name": "Ana", "phone": "2125550101", "email": "ana@x.org", "tags": []string{"rally"}, "attributes": map[string]string{"worksite": "North"}})
	mustCreate(t, base, map[string]any{"first_name": "Bo", "phone": "2125550102", "tags": []string{"rally"}, "attributes": map[string]string{"worksite": "South"}})
	mustCreate(t, base, map[string]any{"first_name": "Cy", "email": "cy@x.org", "tags": []string{"rally"}, "attributes": map[string]string{"worksite": "North"}})
	mustCreate(t, base, map[string]any{"first_name": "Dee", "phone": "2125550104", "attributes": map[string]string{"worksite": "North"}})
	b := connect(t, ns)
	north := json.RawMessage(`{"field": "worksite", "value": "north"}`)
	for _, c := range []struct {
		req  events.AudiencePageRequest
		want string
	}{
		{events.AudiencePageRequest{Tag: "rally", Channel: events.ChannelSMS, Limit: 1}, "Ana,Bo"},
		{events.AudiencePageRequest{Filter: north, Channel: events.ChannelSMS, Limit: 2}, "Ana,Dee"},
		{events.AudiencePageRequest{Tag: "rally", Filter: north, Channel: events.ChannelSMS}, "Ana"},
		{events.AudiencePageRequest{Tag: "rally", Filter: north, Channel: events.ChannelEmail}, "Ana,Cy"},
		{events.AudiencePageRequest{Filter: json.RawMessage(`{"all": []}`), Channel: events.ChannelSMS}, "Ana,Bo,Dee"},
	} {
		got := b.audience(c.req)
		sort.Strings(got)
		if strings.Join(got, ",") != c.want {
			t.Errorf("audience %s %q %s = %v, want %s", c.req.Tag, c.req.Filter, c.req.Channel, got, c.want)
		}
	}
	for _, bad := range []events.AudiencePageRequest{
		{Channel: events.ChannelSMS},
		{Tag: "rally"},
		{Filter: json.RawMessage(`{"field": "worksite", "op": "near"}`), Channel: events.ChannelSMS},
	} {
		if p := b.page(bad); p.Error == "" || len(p.Members) != 0 {
			t.Errorf("request %+v answered %+v, want an error", bad, p)
		}
	}
}

// TestOrganizerOptOutPublishedAndAppliedOnce records an organizer's
// opt-out, sees it on consent.changed with its event id as the message id
// (what delivery consumes), and checks that contacts' own consumer,
// receiving it back, does not record it a second time.
func TestOrganizerOptOutPublishedAndAppliedOnce(t *testing.T) {
	base, ns := start(t)
	b := connect(t, ns)
	ctx := context.Background()
	cons, err := b.js.OrderedConsumer(ctx, events.StreamConsent, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ana := mustCreate(t, base, map[string]any{"first_name": "Ana", "phone": "2125550101", "tags": []string{"rally"}})
	var out map[string]any
	code, raw := call(t, "POST", base+"/contacts/"+ana.ID+"/opt-out", map[string]any{"channel": "sms", "actor": "Sam Organizer <sam@union.org>", "reason": "asked at the meeting"}, &out)
	if code != 200 || out["status"] != "opted_out" {
		t.Fatalf("opt-out = %d %s", code, raw)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.ConsentChanged
	if err := json.Unmarshal(msg.Data(), &ev); err != nil {
		t.Fatal(err)
	}
	if msg.Subject() != events.SubjectConsentChanged || msg.Headers().Get(jetstream.MsgIDHeader) != out["event_id"] || ev.ID != out["event_id"] ||
		ev.Source != events.SourceOrganizer || ev.Evidence != "organizer: Sam Organizer <sam@union.org>" || ev.Address != "+12125550101" ||
		ev.Change != events.ConsentOptedOut || ev.Reason != "asked at the meeting" {
		t.Fatalf("published %s %v: %+v", msg.Subject(), msg.Headers(), ev)
	}
	b.drained()
	hist := consentOf(t, base, ana.ID)
	if len(hist.History) != 1 || hist.History[0].EventID != ev.ID || hist.status("sms") != "opted_out" {
		t.Fatalf("consent = %+v, want the one organizer entry", hist)
	}
	if got := b.audience(events.AudiencePageRequest{Tag: "rally", Channel: events.ChannelSMS}); len(got) != 0 {
		t.Errorf("opted-out member still in the audience: %v", got)
	}
	// An organizer may lift their own opt-out.
	code, raw = call(t, "POST", base+"/contacts/"+ana.ID+"/opt-in", map[string]any{"channel": "sms", "actor": "Sam"}, &out)
	if code != 200 || out["changed"] != true {
		t.Fatalf("opt-in = %d %s", code, raw)
	}
	for _, bad := range []map[string]any{{"channel": "sms"}, {"channel": "fax", "actor": "Sam"}, {"channel": "email", "actor": "Sam"}} {
		if code, _ := call(t, "POST", base+"/contacts/"+ana.ID+"/opt-out", bad, nil); code != 400 {
			t.Errorf("opt-out %v = %d, want 400", bad, code)
		}
	}
}

// TestMemberOptOutCannotBeLiftedByOrganizer: a STOP or a bounce is the
// member's; an organizer's opt-in is a 409 that says so.
func TestMemberOptOutCannotBeLiftedByOrganizer(t *testing.T) {
	base, ns := start(t)
	b := connect(t, ns)
	ana := mustCreate(t, base, map[string]any{"first_name": "Ana", "phone": "2125550101", "email": "ana@x.org"})
	now := testkit.NewClock(t).Now().UTC() // the service's clock, shifted as it is
	b.publish(consentChange(events.ChannelSMS, "+12125550101", events.ConsentOptedOut, events.SourceInboundSMS, "STOP", now))
	b.publish(consentChange(events.ChannelEmail, "ana@x.org", events.ConsentComplained, events.SourceProvider, "spamreport", now))
	b.drained()
	for _, ch := range []string{"sms", "email"} {
		var out map[string]any
		code, raw := call(t, "POST", base+"/contacts/"+ana.ID+"/opt-in", map[string]any{"channel": ch, "actor": "Sam"}, &out)
		if code != http.StatusConflict || !strings.Contains(fmt.Sprint(out["error"]), "only the member can opt back in") {
			t.Errorf("%s opt-in over a member's opt-out = %d %s, want 409", ch, code, raw)
		}
	}
	c := consentOf(t, base, ana.ID)
	if c.status("sms") != "opted_out" || c.status("email") != "opted_out" || len(c.History) != 2 {
		t.Errorf("consent = %+v", c)
	}
}

// TestEditsAndMergesNeverResubscribe: changing a contact's phone away and
// back, editing everything else, and merging contacts leave every opt-out
// where it was, on its address.
func TestEditsAndMergesNeverResubscribe(t *testing.T) {
	base, ns := start(t)
	b := connect(t, ns)
	ana := mustCreate(t, base, map[string]any{"first_name": "Ana", "phone": "2125550101", "tags": []string{"rally"}})
	bo := mustCreate(t, base, map[string]any{"first_name": "Bo", "email": "bo@x.org", "tags": []string{"rally"}})
	b.publish(consentChange(events.ChannelSMS, "+12125550101", events.ConsentOptedOut, events.SourceInboundSMS, "STOP", testkit.NewClock(t).Now().UTC()))
	b.drained()
	sms := events.AudiencePageRequest{Tag: "rally", Channel: events.ChannelSMS}

	patch := func(id string, body map[string]any) contactJSON {
		t.Helper()
		var c contactJSON
		if code, raw := call(t, "PATCH", base+"/contacts/"+id, body, &c); code != 200 {
			t.Fatalf("patch %v = %d %s", body, code, raw)
		}
		return c
	}
	patch(ana.ID, map[string]any{"phone": "2125550111"})
	if got := b.audience(sms); strings.Join(got, ",") != "Ana" {
		t.Fatalf("with a new number Ana is reachable: got %v", got)
	}
	c := patch(ana.ID, map[string]any{"phone": "(212) 555-0101", "first_name": "Ana María", "tags": []string{"rally", "steward"}, "attributes": map[string]any{"worksite": "North"}})
	if c.Phone != "+12125550101" || c.FirstName != "Ana María" {
		t.Fatalf("patched = %+v", c)
	}
	if got := b.audience(sms); len(got) != 0 {
		t.Fatalf("the opted-out number came back subscribed: %v", got)
	}
	if code, _ := call(t, "PATCH", base+"/contacts/"+ana.ID, map[string]any{"phone": "", "email": ""}, nil); code != 400 {
		t.Errorf("removing both addresses = %d, want 400", code)
	}
	if code, _ := call(t, "PATCH", base+"/contacts/"+ana.ID, map[string]any{"consent": "subscribed"}, nil); code != 400 {
		t.Errorf("a patch naming consent = %d, want 400", code)
	}

	// Bo (email only) takes Ana's number in a merge: the number's opt-out
	// comes with it.
	var merged contactJSON
	if code, raw := call(t, "POST", base+"/contacts/"+bo.ID+"/merge", map[string]any{"from": ana.ID}, &merged); code != 200 {
		t.Fatalf("merge = %d %s", code, raw)
	}
	if merged.Phone != "+12125550101" || merged.Email != "bo@x.org" || strings.Join(merged.Tags, ",") != "rally,steward" {
		t.Fatalf("merged = %+v", merged)
	}
	if code, _ := call(t, "GET", base+"/contacts/"+ana.ID, nil, nil); code != 404 {
		t.Errorf("merged-away contact = %d, want 404", code)
	}
	if got := b.audience(sms); len(got) != 0 {
		t.Fatalf("merge re-subscribed the number: %v", got)
	}
	if got := consentOf(t, base, bo.ID); got.status("sms") != "opted_out" || len(got.History) != 1 {
		t.Errorf("consent after merge = %+v", got)
	}
	cy := mustCreate(t, base, map[string]any{"first_name": "Cy", "phone": "2125550103"})
	if code, raw := call(t, "POST", base+"/contacts/"+bo.ID+"/merge", map[string]any{"from": cy.ID}, nil); code != 409 || !strings.Contains(raw, "phone") {
		t.Errorf("merging two phones = %d %s, want 409 naming phone", code, raw)
	}
}

// TestConsentEventsAppliedOnceInOrderWhenRedelivered publishes STOP,
// START, a bounce and a spam report, several times each and out of order:
// each address's ledger holds each event once, oldest first, and its state
// is what the latest events say.
func TestConsentEventsAppliedOnceInOrderWhenRedelivered(t *testing.T) {
	base, ns := start(t)
	b := connect(t, ns)
	ana := mustCreate(t, base, map[string]any{"first_name": "Ana", "phone": "2125550101", "email": "ana@x.org"})
	bo := mustCreate(t, base, map[string]any{"first_name": "Bo", "phone": "2125550102", "email": "bo@x.org"})
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	anaStop := consentChange(events.ChannelSMS, "+12125550101", events.ConsentOptedOut, events.SourceInboundSMS, "STOP", at(1))
	anaStart := consentChange(events.ChannelSMS, "+12125550101", events.ConsentResubscribe, events.SourceInboundSMS, "START", at(2))
	anaBounce := consentChange(events.ChannelEmail, "ana@x.org", events.ConsentBounced, events.SourceProvider, "bounce", at(3))
	boStart := consentChange(events.ChannelSMS, "+12125550102", events.ConsentResubscribe, events.SourceInboundSMS, "START", at(1))
	boStop := consentChange(events.ChannelSMS, "+12125550102", events.ConsentOptedOut, events.SourceInboundSMS, "STOP", at(2))
	boSpam := consentChange(events.ChannelEmail, "bo@x.org", events.ConsentComplained, events.SourceProvider, "spamreport", at(3))
	// Newest first, then everything again in another order, then again.
	for _, ev := range []events.ConsentChanged{anaBounce, anaStart, boSpam, boStop, anaStop, boStart, anaStop, anaStart, boStop, boStart, anaBounce, boSpam, anaStart, anaStop} {
		b.publish(ev)
	}
	b.drained()
	for _, c := range []struct {
		id, sms, email string
		changes        string
	}{
		{ana.ID, "subscribed", "opted_out", "sms:opted_out:STOP,sms:resubscribed:START,email:bounced:bounce"},
		{bo.ID, "opted_out", "opted_out", "sms:resubscribed:START,sms:opted_out:STOP,email:complained:spamreport"},
	} {
		got := consentOf(t, base, c.id)
		var changes []string
		for _, h := range got.History {
			changes = append(changes, h.Channel+":"+h.Change+":"+h.Evidence)
		}
		if strings.Join(changes, ",") != c.changes {
			t.Errorf("ledger = %v, want %s", changes, c.changes)
		}
		if got.status("sms") != c.sms || got.status("email") != c.email {
			t.Errorf("state = %+v, want sms %s, email %s", got.Current, c.sms, c.email)
		}
	}
}

func TestConsentLedgerExport(t *testing.T) {
	base, ns := start(t)
	b := connect(t, ns)
	mustCreate(t, base, map[string]any{"first_name": "Ana", "phone": "2125550101"})
	b.publish(consentChange(events.ChannelSMS, "+12125550101", events.ConsentOptedOut, events.SourceInboundSMS, `=HYPERLINK("http://evil","stop")`, testkit.NewClock(t).Now().UTC()))
	b.drained()
	rows := getCSV(t, base+"/consent/export.csv")
	if len(rows) != 3 || strings.Join(rows[0], ",") != "event_id,channel,address,change,source,evidence,reason,occurred_at,recorded_at" {
		t.Fatalf("export = %q, want the header, the opt-in evidence and the STOP", rows)
	}
	bySource := map[string][]string{}
	for _, r := range rows[1:] {
		bySource[r[4]] = r
	}
	if r := bySource["inbound_sms"]; r == nil || r[2] != "'+12125550101" || r[5] != `'=HYPERLINK("http://evil","stop")` {
		t.Errorf("STOP row = %q", r)
	}
	if r := bySource["api"]; r == nil || r[3] != "subscribed" || r[5] != "created through the contacts API by test" {
		t.Errorf("opt-in evidence row = %q", r)
	}
}

// Campaigns asks contacts over NATS for one member (to preview a text as
// that member would get it) and for an audience's size per channel.
func TestMemberAndCountQueries(t *testing.T) {
	base, ns := start(t)
	code, body := call(t, "POST", base+"/contacts", map[string]any{"first_name": "Ana", "phone": "(212) 555-0134", "tags": []string{"rally"}, "time_zone": "America/New_York"}, nil)
	if code != 201 {
		t.Fatalf("create = %d %s", code, body)
	}
	var created struct{ ID string }
	_ = json.Unmarshal([]byte(body), &created)
	call(t, "POST", base+"/contacts", map[string]any{"first_name": "Bo", "email": "bo@local1199.org", "tags": []string{"rally"}}, nil)

	// Asked as campaigns asks: with campaigns' own user.
	nc, err := nats.Connect(ns.URL(), ns.ClientOptions(natsauth.Campaigns)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ask := func(subject string, req, out any) {
		t.Helper()
		data, _ := json.Marshal(req)
		msg, err := nc.Request(subject, data, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(msg.Data, out); err != nil {
			t.Fatal(err)
		}
	}
	var member events.MemberReply
	ask(events.SubjectMemberGet, events.MemberRequest{ContactID: created.ID}, &member)
	if member.Member == nil || member.Member.FirstName != "Ana" || member.Member.Phone != "+12125550134" || member.Member.TimeZone != "America/New_York" {
		t.Fatalf("member = %+v", member)
	}
	var missing events.MemberReply
	ask(events.SubjectMemberGet, events.MemberRequest{ContactID: "00000000-0000-4000-8000-000000000000"}, &missing)
	if !missing.NotFound || missing.Member != nil {
		t.Fatalf("missing member = %+v", missing)
	}
	var count events.AudienceCount
	ask(events.SubjectAudienceCount, events.AudiencePageRequest{Tag: "rally"}, &count)
	if count.Total != 2 || count.SMS.Reachable != 1 || count.SMS.NoAddress != 1 || count.Email.Reachable != 1 || count.Error != "" {
		t.Fatalf("count = %+v", count)
	}
}

// A large import refreshes the planner's statistics, so an audience page
// over a tag everyone has plans as an index walk, not a sort of the lot,
// even before autovacuum comes round (or where it is off).
func TestLargeImportAnalyzes(t *testing.T) {
	base, _, dsn := startWithDB(t)
	var csv bytes.Buffer
	csv.WriteString("first_name,phone,tags\n")
	for i := range 10_000 {
		fmt.Fprintf(&csv, "Member%d,+1212%07d,everyone\n", i, 3_000_000+i)
	}
	code, imp := upload(t, base, "", csv.Bytes())
	if code != http.StatusAccepted {
		t.Fatalf("upload = %d %v", code, imp)
	}
	if done := waitImport(t, base, imp["id"].(string)); done["state"] != "done" {
		t.Fatalf("import = %v", done)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var analyzed bool
	if err := conn.QueryRow(ctx, `SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'contacts'`).Scan(&analyzed); err != nil {
		t.Fatal(err)
	}
	if !analyzed {
		t.Error("contacts has no statistics after a 10,000-row import")
	}
}
