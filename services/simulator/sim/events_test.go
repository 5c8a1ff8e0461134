package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sendgrid/sendgrid-go"
	"github.com/sendgrid/sendgrid-go/helpers/eventwebhook"
	"github.com/sendgrid/sendgrid-go/helpers/mail"
)

// eventPost is one request the test event webhook received.
type eventPost struct {
	Body        []byte
	Signature   string
	Timestamp   string
	ContentType string
}

// events decodes the posted array.
func (p eventPost) events(t *testing.T) []map[string]any {
	t.Helper()
	var evs []map[string]any
	if err := json.Unmarshal(p.Body, &evs); err != nil {
		t.Fatalf("decode event body %q: %v", p.Body, err)
	}
	return evs
}

// eventHook is a test SendGrid event webhook.
type eventHook struct {
	srv   *httptest.Server
	posts chan eventPost

	mu     sync.Mutex
	status func() int
}

func newEventHook(t *testing.T) *eventHook {
	t.Helper()
	h := &eventHook{posts: make(chan eventPost, 1000)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("event hook: read body: %v", err)
		}
		h.posts <- eventPost{
			Body:        body,
			Signature:   r.Header.Get(eventwebhook.VerificationHTTPHeader),
			Timestamp:   r.Header.Get(eventwebhook.TimestampHTTPHeader),
			ContentType: r.Header.Get("Content-Type"),
		}
		h.mu.Lock()
		status := h.status
		h.mu.Unlock()
		if status != nil {
			w.WriteHeader(status())
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *eventHook) setStatus(f func() int) {
	h.mu.Lock()
	h.status = f
	h.mu.Unlock()
}

func (h *eventHook) next(t *testing.T) eventPost {
	t.Helper()
	select {
	case p := <-h.posts:
		return p
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for an event webhook post")
		return eventPost{}
	}
}

func (h *eventHook) none(t *testing.T) {
	t.Helper()
	select {
	case p := <-h.posts:
		t.Fatalf("unexpected event post: %s", p.Body)
	default:
	}
}

// verify checks a post's signature with sendgrid-go's eventwebhook helper.
func verify(t *testing.T, publicKey string, p eventPost) bool {
	t.Helper()
	pk, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(publicKey)
	if err != nil {
		t.Fatalf("ConvertPublicKeyBase64ToECDSA(%q): %v", publicKey, err)
	}
	ok, err := eventwebhook.VerifySignature(pk, p.Body, p.Signature, p.Timestamp)
	if err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
	return ok
}

func sendMailFor(t *testing.T, h *harness, m *mail.SGMailV3) string {
	t.Helper()
	resp := sendMail(t, h.srv.URL, testKey, mail.GetRequestBody(m))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("mail/send = %d %s", resp.StatusCode, resp.Body)
	}
	return resp.Headers["X-Message-Id"][0]
}

// TestAutoEmailEvents checks processed and delivered events for each
// recipient: signed as SendGrid signs them, with custom args on top.
func TestAutoEmailEvents(t *testing.T) {
	eh := newEventHook(t)
	h := newHarness(t, Config{EventWebhookURL: eh.srv.URL + "/webhooks/sendgrid?tenant=t1", AutoEmailEvents: true})

	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail("Muster", "team@muster.example"))
	m.Subject = "Practice update"
	m.AddContent(mail.NewContent("text/plain", "See you at 6"))
	m.SetCustomArg("campaign_id", "c1")
	m.AddCategories("campaign")
	m.SetASM(mail.NewASM().SetGroupID(42))
	p1 := mail.NewPersonalization()
	p1.AddTos(mail.NewEmail("Ann", "ann@example.com"), mail.NewEmail("", "bob@example.com"))
	p1.SetCustomArg("contact_id", "k1")
	p2 := mail.NewPersonalization()
	p2.AddTos(mail.NewEmail("Cy", "cy@example.com"))
	p2.SetCustomArg("contact_id", "k2")
	p2.SetCustomArg("campaign_id", "c1-cy")
	m.AddPersonalizations(p1, p2)
	id := sendMailFor(t, h, m)

	emails := h.sim.Emails()
	if len(emails) != 3 {
		t.Fatalf("recorded %d emails, want 3", len(emails))
	}
	for i, e := range emails {
		if e.SGMessageID != id+"."+strconv.Itoa(i) || e.ASMGroupID != 42 || len(e.Categories) != 1 || e.Categories[0] != "campaign" {
			t.Errorf("email %d = %+v", i, e)
		}
	}

	// All six events fit one batch.
	post := eh.next(t)
	if !verify(t, h.sim.SendGridPublicKey(), post) {
		t.Fatal("event signature rejected by sendgrid-go")
	}
	if post.ContentType != "application/json" || !bytes.HasSuffix(post.Body, []byte("]\r\n")) {
		t.Errorf("content type %q, body %q", post.ContentType, post.Body)
	}
	ts, err := strconv.ParseInt(post.Timestamp, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)) > time.Minute {
		t.Errorf("timestamp header = %q", post.Timestamp)
	}
	evs := post.events(t)
	if len(evs) != 6 {
		t.Fatalf("got %d events, want 6: %s", len(evs), post.Body)
	}
	wantArgs := []map[string]string{
		{"campaign_id": "c1", "contact_id": "k1"},
		{"campaign_id": "c1", "contact_id": "k1"},
		{"campaign_id": "c1-cy", "contact_id": "k2"},
	}
	ids := map[string]bool{}
	pos := map[string]int{} // email+event -> position
	for i, ev := range evs {
		sgid, _ := ev["sg_event_id"].(string)
		if sgid == "" || ids[sgid] {
			t.Errorf("event %d sg_event_id %q missing or repeated", i, sgid)
		}
		ids[sgid] = true
		email, _ := ev["email"].(string)
		idx := map[string]int{"ann@example.com": 0, "bob@example.com": 1, "cy@example.com": 2}[email]
		if ev["sg_message_id"] != id+"."+strconv.Itoa(idx) || emails[idx].To != email {
			t.Errorf("event %d email %q sg_message_id %v, want %s.%d", i, email, ev["sg_message_id"], id, idx)
		}
		for k, v := range wantArgs[idx] {
			if ev[k] != v {
				t.Errorf("event %d (%s) custom arg %s = %v, want %s", i, email, k, ev[k], v)
			}
		}
		if ts, ok := ev["timestamp"].(float64); !ok || ts < float64(time.Now().Add(-time.Minute).Unix()) {
			t.Errorf("event %d timestamp = %v", i, ev["timestamp"])
		}
		if ev["category"] != "campaign" || ev["asm_group_id"] != 42.0 {
			t.Errorf("event %d category %v asm_group_id %v", i, ev["category"], ev["asm_group_id"])
		}
		pos[email+" "+ev["event"].(string)] = i
	}
	for _, e := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
		p, okP := pos[e+" processed"]
		d, okD := pos[e+" delivered"]
		if !okP || !okD || p > d {
			t.Errorf("%s: processed at %d (%v), delivered at %d (%v); want processed first", e, p, okP, d, okD)
		}
	}

	// Tampering with the body, the timestamp or the key breaks the signature.
	tampered := post
	tampered.Body = bytes.Replace(post.Body, []byte("ann@example.com"), []byte("eve@example.com"), 1)
	if verify(t, h.sim.SendGridPublicKey(), tampered) {
		t.Error("tampered body verified")
	}
	tampered = post
	tampered.Timestamp = strconv.FormatInt(ts+1, 10)
	if verify(t, h.sim.SendGridPublicKey(), tampered) {
		t.Error("changed timestamp verified")
	}
	other := New(Config{}, nil)
	defer other.Close()
	if verify(t, other.SendGridPublicKey(), post) {
		t.Error("verified with another simulator's key")
	}
	eh.none(t)
}

func TestEmailEventBatching(t *testing.T) {
	eh := newEventHook(t)
	h := newHarness(t, Config{EventWebhookURL: eh.srv.URL, AutoEmailEvents: true})
	m := mail.NewV3Mail()
	m.SetFrom(mail.NewEmail("", "team@muster.example"))
	m.Subject = "Hi"
	m.AddContent(mail.NewContent("text/plain", "hello"))
	const n = 150
	for i := range n {
		p := mail.NewPersonalization()
		p.AddTos(mail.NewEmail("", "member"+strconv.Itoa(i)+"@example.com"))
		m.AddPersonalizations(p)
	}
	sendMailFor(t, h, m)

	// 300 events go out as batches of at most 100, in order.
	var all []map[string]any
	posts := 0
	for len(all) < 2*n {
		p := eh.next(t)
		posts++
		if !verify(t, h.sim.SendGridPublicKey(), p) {
			t.Errorf("batch %d signature rejected", posts)
		}
		evs := p.events(t)
		if len(evs) == 0 || len(evs) > 100 {
			t.Errorf("batch %d has %d events, want 1 to 100", posts, len(evs))
		}
		all = append(all, evs...)
	}
	if posts != 3 || len(all) != 2*n {
		t.Errorf("got %d events in %d posts, want %d in 3", len(all), posts, 2*n)
	}
	seenProcessed := map[string]bool{}
	for i, ev := range all {
		email := ev["email"].(string)
		switch ev["event"] {
		case "processed":
			seenProcessed[email] = true
		case "delivered":
			if !seenProcessed[email] {
				t.Errorf("event %d: delivered before processed for %s", i, email)
			}
		default:
			t.Errorf("event %d = %v", i, ev["event"])
		}
	}
	if len(seenProcessed) != n {
		t.Errorf("processed events for %d recipients, want %d", len(seenProcessed), n)
	}
	eh.none(t)
}

func TestEmailEventRepeatAndRetry(t *testing.T) {
	eh := newEventHook(t)
	h := newHarness(t, Config{EventWebhookURL: eh.srv.URL, AutoEmailEvents: true, EmailEventRepeat: 2})
	sendMailFor(t, h, mail.NewV3MailInit(mail.NewEmail("", "team@muster.example"), "Hi",
		mail.NewEmail("", "ann@example.com"), mail.NewContent("text/plain", "hello")))
	first, second := eh.next(t), eh.next(t)
	if !bytes.Equal(first.Body, second.Body) || len(first.events(t)) != 2 {
		t.Errorf("repeated batches differ or are wrong:\n%s\n%s", first.Body, second.Body)
	}
	if !verify(t, h.sim.SendGridPublicKey(), first) || !verify(t, h.sim.SendGridPublicKey(), second) {
		t.Error("repeated batch signature rejected")
	}

	// Off at run time: nothing more is posted for the next email.
	h.sim.SetAutoEmailEvents(false)
	h.sim.SetEmailEventRepeat(1)
	sendMailFor(t, h, mail.NewV3MailInit(mail.NewEmail("", "team@muster.example"), "Hi",
		mail.NewEmail("", "bob@example.com"), mail.NewContent("text/plain", "hello")))

	// A failing webhook gets the batch again.
	h.sim.SetAutoEmailEvents(true)
	var calls int
	var mu sync.Mutex
	eh.setStatus(func() int {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	sendMailFor(t, h, mail.NewV3MailInit(mail.NewEmail("", "team@muster.example"), "Hi",
		mail.NewEmail("", "cy@example.com"), mail.NewContent("text/plain", "hello")))
	failed, retried := eh.next(t), eh.next(t)
	if !bytes.Equal(failed.Body, retried.Body) || failed.events(t)[0]["email"] != "cy@example.com" {
		t.Errorf("retry differs or is for the wrong email:\n%s\n%s", failed.Body, retried.Body)
	}
	time.Sleep(300 * time.Millisecond) // more than the batch window: bob's events would be out
	eh.none(t)
}

// TestManualEmailEvents checks EmailEvent's shapes and SendEmailEvents.
func TestManualEmailEvents(t *testing.T) {
	eh := newEventHook(t)
	h := newHarness(t, Config{EventWebhookURL: eh.srv.URL})
	m := mail.NewV3MailInit(mail.NewEmail("", "team@muster.example"), "Hi",
		mail.NewEmail("", "ann@example.com"), mail.NewContent("text/plain", "hello"))
	m.Personalizations[0].SetCustomArg("contact_id", "k1")
	sendMailFor(t, h, m)
	email := h.sim.Emails()[0]
	eh.none(t) // AutoEmailEvents is off

	tests := []struct {
		event string
		extra map[string]any
		want  map[string]any // fields that must be there with these values
		has   []string       // fields that must be there, any value
	}{
		{event: "bounce", want: map[string]any{"type": "bounce"}, has: []string{"reason", "status"}},
		{event: "bounce", extra: map[string]any{"type": "blocked", "reason": "550 blocked"},
			want: map[string]any{"type": "blocked", "reason": "550 blocked"}},
		{event: "dropped", has: []string{"reason"}},
		{event: "deferred", has: []string{"response", "attempt"}},
		{event: "delivered", has: []string{"response"}},
		{event: "spamreport"},
		{event: "unsubscribe"},
		{event: "group_unsubscribe", want: map[string]any{"asm_group_id": 1.0}},
		{event: "group_unsubscribe", extra: map[string]any{"asm_group_id": 7}, want: map[string]any{"asm_group_id": 7.0}},
		{event: "open", has: []string{"useragent", "ip"}},
		{event: "click", has: []string{"url", "useragent"}},
		{event: "processed", extra: map[string]any{"contact_id": "override"}, want: map[string]any{"contact_id": "override"}},
	}
	var evs []map[string]any
	for _, tt := range tests {
		evs = append(evs, h.sim.EmailEvent(email, tt.event, tt.extra))
	}
	code, err := h.sim.SendEmailEvents(t.Context(), evs)
	if err != nil || code != http.StatusOK {
		t.Fatalf("SendEmailEvents = %d, %v", code, err)
	}
	post := eh.next(t)
	if !verify(t, h.sim.SendGridPublicKey(), post) {
		t.Fatal("manual event signature rejected")
	}
	got := post.events(t)
	if len(got) != len(tests) {
		t.Fatalf("posted %d events, want %d", len(got), len(tests))
	}
	ids := map[any]bool{}
	for i, tt := range tests {
		ev := got[i]
		base := map[string]any{"email": "ann@example.com", "event": tt.event, "sg_message_id": email.SGMessageID,
			"contact_id": "k1"}
		for k, v := range base {
			if _, overridden := tt.want[k]; !overridden && ev[k] != v {
				t.Errorf("%s event %s = %v, want %v", tt.event, k, ev[k], v)
			}
		}
		for k, v := range tt.want {
			if ev[k] != v {
				t.Errorf("%s event %s = %v, want %v", tt.event, k, ev[k], v)
			}
		}
		for _, k := range tt.has {
			if s, _ := ev[k].(string); s == "" {
				t.Errorf("%s event has no %s: %v", tt.event, k, ev)
			}
		}
		if ids[ev["sg_event_id"]] || ev["sg_event_id"] == nil {
			t.Errorf("%s event sg_event_id %v missing or repeated", tt.event, ev["sg_event_id"])
		}
		ids[ev["sg_event_id"]] = true
	}

	// The webhook's status comes back.
	eh.setStatus(func() int { return http.StatusForbidden })
	if code, err := h.sim.SendEmailEvents(t.Context(), nil); err != nil || code != http.StatusForbidden {
		t.Errorf("SendEmailEvents = %d, %v, want 403", code, err)
	}
	if p := eh.next(t); string(p.Body) != "[]\r\n" || !verify(t, h.sim.SendGridPublicKey(), p) {
		t.Errorf("empty batch = %q", p.Body)
	}

	noURL := newHarness(t, Config{})
	if _, err := noURL.sim.SendEmailEvents(t.Context(), evs); !errors.Is(err, ErrNoEventWebhookURL) {
		t.Errorf("without a webhook url err = %v", err)
	}
}

func TestEmailEventRoutes(t *testing.T) {
	eh := newEventHook(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, Config{EventWebhookURL: eh.srv.URL, SendGridEventKey: key})
	pk, err := eventwebhook.ConvertPublicKeyBase64ToECDSA(h.sim.SendGridPublicKey())
	if err != nil || !pk.Equal(&key.PublicKey) {
		t.Fatalf("public key %q is not the configured key's (%v)", h.sim.SendGridPublicKey(), err)
	}

	var keyOut struct {
		PublicKey string `json:"public_key"`
		Enabled   *bool  `json:"enabled"`
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/sendgrid/public-key", nil, &keyOut); code != http.StatusOK ||
		keyOut.PublicKey != h.sim.SendGridPublicKey() {
		t.Errorf("GET /sim/sendgrid/public-key = %d %+v", code, keyOut)
	}
	req := sendgrid.GetRequest(testKey, "/v3/user/webhooks/event/settings/signed", h.srv.URL)
	resp, err := restClient.Send(req)
	if err != nil {
		t.Fatalf("signed settings: %v", err)
	}
	if err := json.Unmarshal([]byte(resp.Body), &keyOut); err != nil || resp.StatusCode != http.StatusOK ||
		keyOut.PublicKey != h.sim.SendGridPublicKey() || keyOut.Enabled == nil || !*keyOut.Enabled {
		t.Errorf("signed settings = %d %s", resp.StatusCode, resp.Body)
	}
	if resp, err := restClient.Send(sendgrid.GetRequest("SG.wrong", "/v3/user/webhooks/event/settings/signed", h.srv.URL)); err != nil ||
		resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signed settings with a wrong key = %v, %v", resp, err)
	}

	raw := `[{"email":"ann@example.com","event":"spamreport","sg_event_id":"e1","timestamp":1700000000,"note":"<&>"}]`
	var out struct {
		StatusCode int    `json:"status_code"`
		Error      string `json:"error"`
	}
	post := func(url, body string) int {
		t.Helper()
		resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		defer resp.Body.Close()
		out.StatusCode, out.Error = 0, ""
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("decode answer: %v", err)
		}
		return resp.StatusCode
	}
	eh.setStatus(func() int { return http.StatusNoContent })
	if code := post(h.srv.URL+"/sim/sendgrid/events", raw); code != http.StatusOK || out.StatusCode != http.StatusNoContent {
		t.Errorf("POST /sim/sendgrid/events = %d %+v", code, out)
	}
	p := eh.next(t)
	if string(p.Body) != raw || !verify(t, h.sim.SendGridPublicKey(), p) {
		t.Errorf("forwarded body %q (signature ok %v), want the posted bytes", p.Body, verify(t, h.sim.SendGridPublicKey(), p))
	}

	for _, bad := range []string{`{"event":"open"}`, `null`, `[1,2]`, `not json`} {
		if code := post(h.srv.URL+"/sim/sendgrid/events", bad); code != http.StatusBadRequest || out.Error == "" {
			t.Errorf("POST %s = %d %+v, want 400", bad, code, out)
		}
	}
	eh.none(t)

	noURL := newHarness(t, Config{})
	if code := post(noURL.srv.URL+"/sim/sendgrid/events", raw); code != http.StatusConflict {
		t.Errorf("without a webhook url = %d, want 409", code)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	unreachable := newHarness(t, Config{EventWebhookURL: deadURL})
	if code := post(unreachable.srv.URL+"/sim/sendgrid/events", raw); code != http.StatusBadGateway || out.Error == "" {
		t.Errorf("unreachable webhook = %d %+v, want 502", code, out)
	}
}
