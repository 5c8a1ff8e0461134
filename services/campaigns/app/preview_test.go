package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

type previewOut struct {
	Member struct {
		FirstName string `json:"first_name"`
	} `json:"member"`
	MemberSource string `json:"member_source"`
	Language     string `json:"language"`
	SMS          *struct {
		Body   string `json:"body"`
		Length struct {
			Encoding string `json:"encoding"`
			Segments int    `json:"segments"`
		} `json:"length"`
		Plain *struct {
			Body   string `json:"body"`
			Length struct {
				Encoding string `json:"encoding"`
			} `json:"length"`
		} `json:"plain"`
	} `json:"sms"`
	Email *struct {
		Subject string `json:"subject"`
		HTML    string `json:"html"`
	} `json:"email"`
	Warnings []string `json:"warnings"`
}

// TestPreviewTestSendAndEstimate: a preview renders for a member as
// contacts has them (language, name), measures the text and offers the
// plain-quote version, and warns about a first text that names nobody and
// says nothing of opting out; a test send goes through delivery under a
// test key; the estimate counts the audience and the time to send it.
func TestPreviewTestSendAndEstimate(t *testing.T) {
	h := newHarness(t, true, nil)
	h.dir.countSize = true
	ana := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000a2", FirstName: "Ana", Phone: "+12125550121", Email: "ana@example.org", Language: "es"}, tags: []string{"n"}}
	bo := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000b2", FirstName: "Bo", Phone: "+12125550122"}, tags: []string{"n"}}
	cy := member{Member: events.Member{ContactID: "00000000-0000-4000-8000-0000000000c2", FirstName: "<Cy>", Email: "cy@example.org"}, tags: []string{"n"}}
	h.dir.add(ana, bo, cy)
	h.dir.serve(t, h.nc, false) // now answering audience counts too; two page responders share a queue group
	srv := h.start()
	out := h.outbox()

	id := create(t, srv.url, map[string]any{
		"name": "Night shift", "channel": "both",
		"body":     "Hi {{first_name|friend}}, the “night shift” meeting is on — come!",
		"email":    map[string]string{"subject": "Night shift", "text": "Hi {{first_name}}", "html": "<p>Hi {{first_name}}</p>"},
		"content":  map[string]any{"es": map[string]string{"sms": "Hola {{first_name}}, ¡ven!"}},
		"audience": map[string]string{"tag": "n"},
	})
	var p previewOut
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/preview", map[string]string{"contact_id": bo.ContactID}, &p); code != 200 {
		t.Fatalf("preview = %d", code)
	}
	if p.MemberSource != "contacts" || p.SMS == nil || p.SMS.Body != "Hi Bo, the “night shift” meeting is on — come!" ||
		p.SMS.Length.Encoding != "UCS-2" || p.SMS.Plain == nil || p.SMS.Plain.Body != `Hi Bo, the "night shift" meeting is on - come!` ||
		p.SMS.Plain.Length.Encoding != "GSM-7" || len(p.Warnings) != 3 ||
		!strings.Contains(strings.Join(p.Warnings, "|"), "name the union") || !strings.Contains(strings.Join(p.Warnings, "|"), "opt out") ||
		!strings.Contains(strings.Join(p.Warnings, "|"), "no email address") {
		t.Errorf("preview for Bo = %+v sms %+v", p, p.SMS)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/preview", map[string]string{"contact_id": ana.ContactID}, &p); code != 200 || p.Language != "es" || p.SMS.Body != "Hola Ana, ¡ven!" {
		t.Errorf("preview for Ana = %d %+v", code, p)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/preview", map[string]string{"contact_id": cy.ContactID}, &p); code != 200 || p.Email == nil || p.Email.HTML != "<p>Hi &lt;Cy&gt;</p>" {
		t.Errorf("preview for Cy = %d %+v", code, p.Email)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/preview", map[string]string{"contact_id": "00000000-0000-4000-8000-000000000999"}, nil); code != 404 {
		t.Errorf("preview for nobody = %d, want 404", code)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/preview", map[string]any{"sample": map[string]string{"first_name": "Sam"}}, &p); code != 200 || p.MemberSource != "sample" || !strings.HasPrefix(p.SMS.Body, "Hi Sam,") {
		t.Errorf("preview with sample = %d %+v", code, p)
	}

	var sent struct {
		Sent []struct {
			Channel        string `json:"channel"`
			IdempotencyKey string `json:"idempotency_key"`
		} `json:"sent"`
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/test", map[string]any{"phone": "(312) 555-0100", "email": "Org@Example.org", "contact_id": bo.ContactID}, &sent); code != 202 || len(sent.Sent) != 2 {
		t.Fatalf("test send = %d %+v", code, sent)
	}
	if code := call(t, "POST", srv.url+"/campaigns/"+id+"/test", map[string]any{"phone": "555-0100"}, nil); code != 400 {
		t.Errorf("test send to a bad number = %d, want 400", code)
	}
	testkit.Eventually(t, "the tests in the SEND stream", func() bool { return out.len() == 2 })
	for _, m := range out.where(func(events.SendRequested) bool { return true }) {
		if !strings.HasPrefix(m.IdempotencyKey, "c."+id+".t.") || m.ContactID != "test" || !m.Urgent {
			t.Errorf("test request = %+v", m)
		}
		if m.Channel == events.ChannelSMS && (m.To != "+13125550100" || m.Body != "Hi Bo, the “night shift” meeting is on — come!") {
			t.Errorf("test text = %+v", m)
		}
		if m.Channel == events.ChannelEmail && m.To != "org@example.org" {
			t.Errorf("test email = %+v", m)
		}
	}
	if got := get(t, srv.url, id).Status; got != "draft" {
		t.Errorf("after a test the campaign is %s, want draft", got)
	}

	var est struct {
		Channels map[string]struct {
			Reachable int     `json:"reachable"`
			NoAddress *int    `json:"no_address"`
			Segments  int     `json:"segments"`
			Seconds   float64 `json:"seconds"`
		} `json:"channels"`
		Total            *int    `json:"total"`
		Excluded         *int    `json:"excluded"`
		EstimatedSeconds float64 `json:"estimated_seconds"`
	}
	if code := call(t, "GET", srv.url+"/campaigns/"+id+"/estimate", nil, &est); code != 200 {
		t.Fatalf("estimate = %d", code)
	}
	s, e := est.Channels["sms"], est.Channels["email"]
	if s.Reachable != 2 || e.Reachable != 2 || s.NoAddress == nil || *s.NoAddress != 1 || *est.Total != 3 || *est.Excluded != 1 ||
		s.Segments != 1 || s.Seconds != 2 || est.EstimatedSeconds != 2 {
		t.Errorf("estimate = %+v (sms %+v, email %+v)", est, s, e)
	}

	// A live stream left open is ended by the service as it stops, so it
	// never holds the shutdown.
	events, closeStream := sse(t, srv.url+"/campaigns/"+id+"/results/stream")
	defer closeStream()
	<-events // the first numbers
	srv.stop(t)
	select {
	case _, open := <-events:
		if open {
			t.Error("the stream sent numbers after the service stopped")
		}
	case <-time.After(10 * time.Second):
		t.Error("the stream was not ended when the service stopped")
	}
}
