package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/smssend"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
)

// keyword applies a member's rhythm keyword as the inbound webhook does,
// at the service's clock, and returns the reply.
func (h *harness) keyword(from, text, sid string) string {
	h.t.Helper()
	rd := consent.Read(text)
	reply, err := h.app.Rhythm().Apply(context.Background(), from, rd, sid, h.clock.Now())
	if err != nil {
		h.t.Fatalf("%s: %v", text, err)
	}
	return reply
}

func (h *harness) deferred(key string) (time.Time, string) {
	h.t.Helper()
	var m struct {
		DeferredUntil *time.Time
		DeferReason   string
	}
	testkit.Eventually(h.t, "the deferral of "+key, func() bool {
		msg, ok := h.message(key)
		if !ok || msg.DeferredUntil == nil || msg.Status != "queued" {
			return false
		}
		m.DeferredUntil, m.DeferReason = msg.DeferredUntil, msg.DeferReason
		return true
	})
	return *m.DeferredUntil, m.DeferReason
}

// A member who works nights texts NIGHTS (through the Twilio webhook); a text at 10:00 their time
// waits, queued, until 16:00 their time, then goes when the sweeper finds
// it due. Nothing goes early.
func TestNightsHoldsTextsUntilFourPM(t *testing.T) {
	h := newHarness(t, setup{})
	ny, _ := time.LoadLocation("America/New_York")
	y, mo, d := h.midday.In(ny).Date()
	h.clock.Set(time.Date(y, mo, d, 10, 0, 0, 0, ny))
	h.start(nil)
	member := "+12125550161" // 212: New York
	// Through Twilio's signed inbound webhook, as the member's phone sends it.
	res, err := h.sim.SendReply(context.Background(), simReply(member, "Nights"))
	if err != nil || res.StatusCode != 200 || len(res.Replies) != 1 || !strings.Contains(res.Replies[0].Body, "16:00-21:00") {
		t.Fatalf("NIGHTS = %+v, %v", res, err)
	}
	key := h.send(member, "Rally at the hospital Friday")
	until, reason := h.deferred(key)
	four := time.Date(y, mo, d, 16, 0, 0, 0, ny)
	if !until.Equal(four) || reason != "member_window" {
		t.Fatalf("deferred until %s for %q, want %s for member_window", until, reason, four)
	}
	// The message log shows the reason, and campaigns hear of it.
	var list struct {
		Messages []map[string]any `json:"messages"`
	}
	h.get("/messages?limit=10", &list)
	if len(list.Messages) != 1 || list.Messages[0]["defer_reason"] != "member_window" || list.Messages[0]["deferred_until"] == nil {
		t.Fatalf("message log = %+v", list.Messages)
	}
	if ev := readStatusEvent(t, h, list.Messages[0]["id"].(string), "queued"); !strings.Contains(ev.Reason, "member window") {
		t.Errorf("deferral event reason = %q", ev.Reason)
	}
	h.clock.Set(four.Add(-time.Minute))
	never(t, "a text at 15:59", func() bool { return h.sim.SentTo(member) > 0 }, 500*time.Millisecond)
	h.clock.Set(four)
	h.waitStatus(key, "delivered")
	// An urgent alert does not bypass the member's window either.
	h.clock.Set(time.Date(y, mo, d+1, 10, 0, 0, 0, ny))
	urgent := h.send(member, "URGENT: picket moved", func(r *events.SendRequested) { r.Urgent = true })
	if until, reason := h.deferred(urgent); !until.Equal(time.Date(y, mo, d+1, 16, 0, 0, 0, ny)) || reason != "member_window" {
		t.Fatalf("urgent alert deferred until %s for %q", until, reason)
	}
}

// PAUSE holds every text; RESUME releases what it held at once.
func TestPauseThenResume(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+12125550162"
	// A bad argument changes nothing and says why.
	res, err := h.sim.SendReply(context.Background(), simReply(member, "PAUSE 9999"))
	if err != nil || len(res.Replies) != 1 || !strings.Contains(res.Replies[0].Body, "1 to 90") {
		t.Fatalf("PAUSE 9999 = %+v, %v", res, err)
	}
	res, err = h.sim.SendReply(context.Background(), simReply(member, "PAUSE 3"))
	if err != nil || len(res.Replies) != 1 || !strings.Contains(res.Replies[0].Body, "paused until") {
		t.Fatalf("PAUSE 3 = %+v, %v", res, err)
	}
	key := h.send(member, "Meeting tonight")
	until, reason := h.deferred(key)
	if reason != "pause" || until.Sub(h.clock.Now()) < 71*time.Hour {
		t.Fatalf("deferred until %s for %q, want the pause's end, three days on", until, reason)
	}
	never(t, "a text during the pause", func() bool { return h.sim.SentTo(member) > 0 }, 300*time.Millisecond)
	res, err = h.sim.SendReply(context.Background(), simReply(member, "resume"))
	if err != nil || len(res.Replies) != 1 || !strings.Contains(res.Replies[0].Body, "resumed") {
		t.Fatalf("RESUME = %+v, %v", res, err)
	}
	h.waitStatus(key, "delivered")
}

// LESS lets one text a week through; the rest wait, urgent ones too.
func TestLessHoldsUrgentAlertsToo(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+12125550163"
	h.keyword(member, "LESS", "SMless1")
	h.waitStatus(h.send(member, "one"), "delivered")
	second := h.send(member, "two", func(r *events.SendRequested) { r.Urgent = true })
	until, reason := h.deferred(second)
	if reason != "fewer_texts" || until.Sub(h.clock.Now()) < 6*24*time.Hour {
		t.Fatalf("second text deferred until %s for %q, want a week on for fewer_texts", until, reason)
	}
	h.keyword(member, "MORE", "SMmore1")
	h.waitStatus(second, "delivered")
}

// A text that could only arrive after its event ends expired, with the
// reason, and is never sent.
func TestTextAfterTheEventExpires(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+12125550164"
	h.keyword(member, "NIGHTS", "SMnights2")
	ny, _ := time.LoadLocation("America/New_York")
	y, mo, d := h.clock.Now().In(ny).Date()
	key := h.send(member, "Meeting at 3pm today", func(r *events.SendRequested) {
		r.NotAfter = time.Date(y, mo, d, 15, 0, 0, 0, ny)
	})
	m := h.waitStatus(key, "expired")
	if m.Reason != smssend.Late {
		t.Fatalf("reason = %q", m.Reason)
	}
	// One whose event is after the opening waits for it as usual.
	later := h.send(member, "Meeting at 7pm today", func(r *events.SendRequested) {
		r.NotAfter = time.Date(y, mo, d, 19, 0, 0, 0, ny)
	})
	if _, reason := h.deferred(later); reason != "member_window" {
		t.Fatalf("reason = %q", reason)
	}
	if h.sim.SentTo(member) != 0 {
		t.Fatal("a text went out")
	}
}

// State rules are a table an admin edits through the internal API; the
// worker applies a saved rule at once, to the state the request names.
func TestStateRuleEditedAndApplied(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	var list struct {
		Rules []struct {
			State     string            `json:"state"`
			Windows   map[string]string `json:"windows"`
			MaxPer24h int               `json:"max_per_24h"`
		} `json:"state_rules"`
	}
	if code := h.get("/state-rules", &list); code != 200 {
		t.Fatalf("GET /state-rules = %d", code)
	}
	seen := map[string]bool{}
	for _, r := range list.Rules {
		seen[r.State] = true
		if r.State == "TX" && (r.Windows["sun"] != "12:00-21:00" || r.Windows["mon"] != "09:00-21:00") {
			t.Errorf("TX = %+v", r)
		}
		if r.State == "FL" && (r.Windows["wed"] != "08:00-20:00" || r.MaxPer24h != 3) {
			t.Errorf("FL = %+v", r)
		}
	}
	if !seen["TX"] || !seen["FL"] || !seen["OK"] || !seen["MD"] || !seen["WA"] {
		t.Fatalf("seeded states = %v", seen)
	}
	put := func(body string) int {
		req, _ := http.NewRequest(http.MethodPut, "http://"+h.addr+"/state-rules/ZZ", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := api().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	week := func(w string) string {
		var b bytes.Buffer
		json.NewEncoder(&b).Encode(map[string]any{"updated_by": "admin@local.example", "max_per_24h": 0, "windows": map[string]string{
			"sun": w, "mon": w, "tue": w, "wed": w, "thu": w, "fri": w, "sat": w}})
		return b.String()
	}
	if code := put(week("07:00-21:00")); code != 400 {
		t.Fatalf("a window wider than the federal one: %d, want 400", code)
	}
	if code := put(`{"updated_by":"a","windows":{"mon":"09:00-20:00"}}`); code != 400 {
		t.Fatalf("a week with days missing: %d, want 400", code)
	}
	if code := put(week("14:00-21:00")); code != 200 {
		t.Fatalf("PUT = %d", code)
	}
	// The clock is at noon in New York; the member's contact says ZZ.
	member := "+12125550165"
	key := h.send(member, "Vote Thursday", func(r *events.SendRequested) { r.State = "zz" })
	until, reason := h.deferred(key)
	ny, _ := time.LoadLocation("America/New_York")
	y, mo, d := h.clock.Now().In(ny).Date()
	if reason != "state_rule" || !until.Equal(time.Date(y, mo, d, 14, 0, 0, 0, ny)) {
		t.Fatalf("deferred until %s for %q, want 14:00 for state_rule", until, reason)
	}
}

// The preferences page: a sealed link opens a form; saving changes the
// rhythm at once; a window outside the legal one is refused with the
// allowed range; a tampered or expired link changes nothing.
func TestPreferencesPage(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+13055550166" // 305: Florida, 08:00-20:00
	link := h.app.PrefsURL(member)
	if strings.Contains(link, "3055550166") {
		t.Fatalf("link %s shows the number", link)
	}
	reply := h.keyword(member, "PREFS", "SMprefs1")
	if !strings.Contains(reply, "/prefs/") {
		t.Fatalf("PREFS reply = %q", reply)
	}
	get := func(link string) (int, string) {
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("member-page headers missing: %v", resp.Header)
		}
		return resp.StatusCode, string(b)
	}
	post := func(link string, form url.Values) (int, string) {
		resp, err := http.PostForm(link, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get(link)
	if code != 200 || !strings.Contains(body, "08:00-20:00") || !strings.Contains(body, `name="pause_days"`) {
		t.Fatalf("GET = %d\n%s", code, body)
	}
	rhythmOf := func() map[string]any {
		var out map[string]any
		h.get("/rhythm/"+url.PathEscape(member), &out)
		return out
	}
	form := url.Values{"window": {"own"}, "start": {"16:00"}, "end": {"21:00"}, "language": {"es"}, "channels": {"sms"}}
	if code, body := post(link, form); code != 400 || !strings.Contains(body, "between 08:00 and 20:00") {
		t.Fatalf("a window past Florida's 20:00: %d\n%s", code, body)
	}
	// PREFS changed nothing; the refused form neither.
	if r := rhythmOf(); r["found"] == true {
		t.Fatalf("a refused form changed the rhythm: %+v", r)
	}
	form.Set("end", "20:00")
	form.Set("pause_days", "2")
	form.Set("less", "on")
	if code, body := post(link, form); code != 200 || !strings.Contains(body, "Guardado") {
		t.Fatalf("save = %d\n%s", code, body)
	}
	r := rhythmOf()
	rh, _ := r["rhythm"].(map[string]any)
	if r["window"] != "16:00-20:00" || rh["less"] != true || rh["language"] != "es" || rh["channels"] != "sms" || rh["paused_until"] == nil {
		t.Fatalf("after saving: %+v", r)
	}
	hist, _ := r["history"].([]any)
	if len(hist) != 1 || hist[0].(map[string]any)["source"] != events.SourceWebForm {
		t.Fatalf("history = %+v", hist)
	}

	// Tampered: one character of the token changed.
	token := link[strings.LastIndex(link, "/")+1:]
	flip := []byte(token)
	if flip[10] == 'A' {
		flip[10] = 'B'
	} else {
		flip[10] = 'A'
	}
	tampered := strings.TrimSuffix(link, token) + string(flip)
	if code, body := get(tampered); code != 400 || !strings.Contains(body, "does not work") {
		t.Fatalf("tampered GET = %d\n%s", code, body)
	}
	if code, _ := post(tampered, url.Values{"language": {"en"}, "channels": {"both"}}); code != 400 {
		t.Fatalf("tampered POST = %d", code)
	}
	// Expired: 30 days on, by the service's clock.
	h.clock.Advance(31 * 24 * time.Hour)
	if code, body := get(link); code != 410 || !strings.Contains(body, "expired") {
		t.Fatalf("expired GET = %d\n%s", code, body)
	}
	if code, _ := post(link, url.Values{"language": {"en"}, "channels": {"both"}}); code != 410 {
		t.Fatalf("expired POST = %d", code)
	}
	if hist, _ := rhythmOf()["history"].([]any); len(hist) != 1 {
		t.Fatalf("a tampered or expired link changed something: %+v", hist)
	}
}

// Every campaign email's footer carries the member's own preferences
// link; for an email address the page sets language and channels only.
func TestEmailFooterHasPreferencesLink(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	h.waitStatus(h.email("ana@local1199.org", "Contract vote", "Vote at the union hall."), "delivered")
	emails := h.sim.Emails()
	if len(emails) != 1 {
		t.Fatalf("%d emails", len(emails))
	}
	text := emails[0].Text
	i := strings.Index(text, "/prefs/p1.")
	if i < 0 || !strings.Contains(emails[0].HTML, "/prefs/p1.") {
		t.Fatalf("no preferences link in the email:\n%s", text)
	}
	link := "http://" + h.addr + strings.Fields(text[i:])[0]
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(body), `name="pause_days"`) || !strings.Contains(string(body), `name="channels"`) {
		t.Fatalf("GET %s = %d\n%s", link, resp.StatusCode, body)
	}
	resp, err = http.PostForm(link, url.Values{"language": {"es"}, "channels": {"email"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var out map[string]any
	h.get("/rhythm/"+url.PathEscape("ana@local1199.org"), &out)
	if rh, _ := out["rhythm"].(map[string]any); resp.StatusCode != 200 || rh["channels"] != "email" || rh["channel"] != "email" || rh["language"] != "es" {
		t.Fatalf("after saving: %d %+v", resp.StatusCode, out)
	}
}

// A member who opted out may still set their rhythm (it holds if they
// come back), but nothing is texted to them: no confirmation.
func TestOptedOutMemberGetsNoRhythmConfirmation(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+12125550167"
	if res, err := h.sim.SendReply(context.Background(), simReply(member, "STOP")); err != nil || res.StatusCode != 200 {
		t.Fatalf("STOP = %+v, %v", res, err)
	}
	res, err := h.sim.SendReply(context.Background(), simReply(member, "NIGHTS"))
	if err != nil || res.StatusCode != 200 || len(res.Replies) != 0 {
		t.Fatalf("NIGHTS from an opted-out member = %+v, %v", res, err)
	}
	var out map[string]any
	h.get("/rhythm/"+url.PathEscape(member), &out)
	if out["window"] != "16:00-21:00" {
		t.Fatalf("rhythm = %+v", out)
	}
}

// The member's channel choice binds: "email only" on their number's page
// keeps texts from them (their own act, announced to the ledger), "both"
// brings them back, and the page never lifts a STOP.
func TestPreferencesChannelChoiceBinds(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+12125550167"
	link := h.app.PrefsURL(member)
	save := func(channels string) {
		t.Helper()
		resp, err := http.PostForm(link, url.Values{"window": {"org"}, "language": {"en"}, "channels": {channels}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("saving %s = %d", channels, resp.StatusCode)
		}
	}
	save("email")
	if !suppressed(h, member) {
		t.Fatal("choosing email only left texts on")
	}
	key := h.send(member, "Rally Friday")
	if m := h.waitStatus(key, "suppressed"); !strings.Contains(m.Reason, "email only") {
		t.Fatalf("text to a member who chose email only: %+v", m)
	}
	h.clock.Advance(time.Minute)
	save("both")
	if suppressed(h, member) {
		t.Fatal("choosing both did not bring texts back")
	}
	// A STOP is the member's word on texts: the page does not lift it.
	h.clock.Advance(time.Minute)
	h.inboundAs("SMchoice1", member, "STOP")
	h.clock.Advance(time.Minute)
	save("both")
	if !suppressed(h, member) {
		t.Fatal("the preferences page lifted a STOP")
	}
}

// HELP answers with the organization's text and the member's own
// preferences link.
func TestHelpCarriesThePreferencesLink(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	member := "+12125550168"
	reply := h.inboundAs("SMhelp1", member, "HELP")
	if !strings.Contains(reply, "NIGHTS") || !strings.Contains(reply, "/prefs/") || strings.Contains(reply, "2125550168") {
		t.Fatalf("HELP reply = %q, want the HELP text naming NIGHTS and the member's sealed link", reply)
	}
}
