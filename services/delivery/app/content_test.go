package app_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// storeContent stores c in the CONTENT stream as campaigns does and
// returns its ref.
func storeContent(t *testing.T, h *harness, c events.Content) string {
	t.Helper()
	ref, data, err := c.Ref()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.js.Publish(context.Background(), events.ContentSubject(ref), data); err != nil {
		t.Fatal(err)
	}
	return ref
}

// contentRef is c's ref without storing it.
func contentRef(t *testing.T, c events.Content) string {
	t.Helper()
	ref, _, err := c.Ref()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// Requests that name stored content with each member's merge values: the
// content arrives after the requests (they wait for it, none is lost);
// every member gets their own first name in subject, text and HTML, an
// HTML-special name escaped in the HTML part only; the members share one
// SendGrid call whose body carries the content once; a suppressed member
// is still suppressed; the message log names the content and the values.
func TestEmailFromStoredContent(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.EmailLinger = 500 * time.Millisecond }})
	h.start(nil)
	c := events.Content{
		Subject: "Vote Thursday, " + events.MergeTag(0, false),
		Text:    "Dear " + events.MergeTag(0, false) + ",\nthe vote is Thursday at 5pm. " + strings.Repeat("Details. ", 50),
		HTML:    "<p>Dear " + events.MergeTag(0, true) + ",</p><p>the vote is Thursday at 5pm.</p>" + strings.Repeat("<p>Details.</p>", 50),
		Merge:   []string{"first_name"},
	}
	ref := contentRef(t, c)

	// One member is suppressed before anything is sent.
	stopped := "cy@local1199.org"
	ev := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", time.Now()),
		Channel: events.ChannelEmail, Address: stopped, Change: events.ConsentOptedOut, Source: events.SourceOrganizer, At: time.Now(),
	}
	if err := stream.Publish(context.Background(), h.js, events.SubjectConsentChanged, ev.ID, ev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the suppression", func() bool { return suppressed(h, stopped) })

	names := map[string]string{"ana@local1199.org": "Ana", "bo@local1199.org": `<b>&"`, "di@local1199.org": "Dmitri", stopped: "Cy"}
	keys := map[string]string{}
	for addr, name := range names {
		keys[addr] = h.publish(events.ChannelEmail, addr, func(r *events.SendRequested) {
			r.Version = events.VersionSendRequested
			r.ContentRef, r.MergeValues = ref, []string{name}
		})
	}
	// The content is late: nothing goes, and nothing is given up on.
	never(t, "an email before its content is stored", func() bool { return len(h.sim.Emails()) > 0 }, time.Second)
	for _, k := range keys {
		if m, ok := h.message(k); ok {
			t.Fatalf("%s recorded as %s before its content arrived", k, m.Status)
		}
	}
	if got := storeContent(t, h, c); got != ref {
		t.Fatalf("stored under %s, want %s", got, ref)
	}
	for addr, k := range keys {
		want := "delivered"
		if addr == stopped {
			want = "suppressed"
		}
		m := h.waitStatus(k, want)
		if !strings.HasPrefix(m.Body, ref+"\n") || !strings.HasSuffix(m.Body, "\n"+names[addr]) {
			t.Errorf("message log body %q does not name the content and %q", m.Body, names[addr])
		}
	}
	emails := h.sim.Emails()
	if len(emails) != 3 {
		t.Fatalf("%d emails, want 3 (the suppressed member gets none)", len(emails))
	}
	for _, e := range emails {
		name := names[e.To]
		if e.To == stopped {
			t.Fatalf("the suppressed member got an email")
		}
		if e.MessageID != emails[0].MessageID {
			t.Errorf("emails of one content went in more than one call")
		}
		if e.Subject != "Vote Thursday, "+name {
			t.Errorf("%s: subject %q", e.To, e.Subject)
		}
		if !strings.HasPrefix(e.Text, "Dear "+name+",\n") {
			t.Errorf("%s: text starts %q", e.To, e.Text[:40])
		}
		wantHTML := "<p>Dear " + strings.NewReplacer("<", "&lt;", ">", "&gt;", "&", "&amp;", `"`, "&#34;").Replace(name) + ",</p>"
		if !strings.HasPrefix(e.HTML, wantHTML) {
			t.Errorf("%s: html starts %q, want %q", e.To, e.HTML[:40], wantHTML)
		}
		if strings.Contains(e.Text+e.HTML+e.Subject, "{{m0") {
			t.Errorf("%s: a merge tag was left in the email", e.To)
		}
		link := strings.Trim(e.Headers["List-Unsubscribe"], "<>")
		if !strings.Contains(e.Text, link) || !strings.Contains(e.HTML, link) {
			t.Errorf("%s: body lacks the member's own unsubscribe link", e.To)
		}
	}
}

// A request whose merge values do not fit its content, or would not fit
// one SendGrid personalization, is refused into the message log as
// failed, never sent half-merged nor failing its batch's call.
func TestEmailContentMergeMismatchRefused(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	ref := storeContent(t, h, events.Content{Subject: "Hi " + events.MergeTag(0, false), Text: "Hi " + events.MergeTag(0, false), Merge: []string{"first_name"}})
	k := h.publish(events.ChannelEmail, "ana@local1199.org", func(r *events.SendRequested) {
		r.Version = events.VersionSendRequested
		r.ContentRef = ref
	})
	m := h.waitStatus(k, "failed")
	if !strings.Contains(m.Reason, "merge") {
		t.Errorf("reason %q", m.Reason)
	}
	// Values past what one SendGrid personalization takes fail alone.
	k = h.publish(events.ChannelEmail, "bo@local1199.org", func(r *events.SendRequested) {
		r.Version = events.VersionSendRequested
		r.ContentRef, r.MergeValues = ref, []string{strings.Repeat("<", 2000)}
	})
	if m := h.waitStatus(k, "failed"); m.Reason != "merge values too long" {
		t.Errorf("reason %q", m.Reason)
	}
	if n := len(h.sim.Emails()); n != 0 {
		t.Fatalf("%d emails sent", n)
	}
}

// SendGrid refusing one member's address (a 400 naming its
// personalization) fails that member alone: the others of the batch go
// in a call without them.
func TestEmailOneRefusedAddressFailsAlone(t *testing.T) {
	h := newHarness(t, setup{config: func(c *app.Config) { c.EmailLinger = 500 * time.Millisecond }})
	bad := "bad@local1199.org"
	h.sim.SetEmailFaults([]sim.Fault{{To: bad, Kind: sim.FaultInvalidEmail}})
	h.start(nil)
	ref := storeContent(t, h, events.Content{Subject: "Hi " + events.MergeTag(0, false), Text: "Hi " + events.MergeTag(0, false), Merge: []string{"first_name"}})
	keys := map[string]string{}
	for _, addr := range []string{"ana@local1199.org", bad, "bo@local1199.org"} {
		keys[addr] = h.publish(events.ChannelEmail, addr, func(r *events.SendRequested) {
			r.Version = events.VersionSendRequested
			r.ContentRef, r.MergeValues = ref, []string{"X"}
		})
	}
	if m := h.waitStatus(keys[bad], "failed"); m.ErrorCode != "400" {
		t.Errorf("refused member: code %q", m.ErrorCode)
	}
	h.waitStatus(keys["ana@local1199.org"], "delivered")
	h.waitStatus(keys["bo@local1199.org"], "delivered")
	for _, e := range h.sim.Emails() {
		if e.To == bad {
			t.Fatal("the refused address was recorded as sent")
		}
	}
}
