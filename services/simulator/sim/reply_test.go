package sim

import (
	"net/http"
	"testing"
)

func TestReplyPostsSignedInboundWebhook(t *testing.T) {
	const member, number = "+15552013344", "+15550001111"
	tests := []struct {
		name        string
		reply       Reply
		hookStatus  int
		hookBody    string
		wantReplies []string // bodies recorded as outbound-reply, in order
	}{
		{
			name:        "twiml with two messages",
			reply:       Reply{From: member, To: number, Body: "HELP"},
			hookStatus:  200,
			hookBody:    `<?xml version="1.0" encoding="UTF-8"?><Response><Message>Muster: reply STOP to opt out.</Message><Message><Body>Msg&amp;data rates may apply</Body></Message></Response>`,
			wantReplies: []string{"Muster: reply STOP to opt out.", "Msg&data rates may apply"},
		},
		{
			name:       "opt out with empty response",
			reply:      Reply{From: member, To: number, Body: "STOP", OptOutType: "STOP"},
			hookStatus: 200,
			hookBody:   `<Response/>`,
		},
		{
			name:       "empty body answer",
			reply:      Reply{From: member, To: number, Body: "thanks 👍"},
			hookStatus: 204,
		},
		{
			name:       "plain text answer is not twiml",
			reply:      Reply{From: member, To: number, Body: "yes"},
			hookStatus: 200,
			hookBody:   "ok",
		},
		{
			name:       "error answer records nothing",
			reply:      Reply{From: member, To: number, Body: "START"},
			hookStatus: 500,
			hookBody:   `<Response><Message>ignored</Message></Response>`,
		},
	}
	wh := newHook(t)
	h := newHarness(t, Config{InboundURL: wh.srv.URL + "/twilio/inbound?tenant=t1"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.sim.Reset()
			wh.setRespond(func(w http.ResponseWriter, _ hookRequest) {
				w.Header().Set("Content-Type", "text/xml")
				w.WriteHeader(tt.hookStatus)
				_, _ = w.Write([]byte(tt.hookBody))
			})
			var res ReplyResult
			if code := doJSON(t, http.MethodPost, h.srv.URL+"/sim/reply", tt.reply, &res); code != http.StatusOK {
				t.Fatalf("status = %d", code)
			}
			if res.StatusCode != tt.hookStatus || res.Body != tt.hookBody || !smSID.MatchString(res.Sid) {
				t.Errorf("result = %+v, want status %d body %q", res, tt.hookStatus, tt.hookBody)
			}

			r := wh.next(t)
			if r.URL != wh.srv.URL+"/twilio/inbound?tenant=t1" {
				t.Errorf("webhook url = %q", r.URL)
			}
			if !r.valid(testToken) {
				t.Error("inbound signature rejected by twilio-go")
			}
			want := map[string]string{
				"MessageSid": res.Sid, "SmsSid": res.Sid, "SmsMessageSid": res.Sid, "AccountSid": testSID,
				"From": member, "To": number, "Body": tt.reply.Body, "NumMedia": "0",
				"NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
			}
			if tt.reply.OptOutType != "" {
				want["OptOutType"] = tt.reply.OptOutType
			}
			if len(r.Form) != len(want) {
				t.Errorf("params = %v, want %v", r.Form, want)
			}
			for k, v := range want {
				if r.Form[k] != v {
					t.Errorf("param %s = %q, want %q", k, r.Form[k], v)
				}
			}

			out := h.sim.Outbox()
			if len(out) != len(tt.wantReplies) || len(res.Replies) != len(tt.wantReplies) {
				t.Fatalf("outbox has %d, result has %d replies, want %d", len(out), len(res.Replies), len(tt.wantReplies))
			}
			for i, body := range tt.wantReplies {
				m := out[i]
				if m.Body != body || m.From != number || m.To != member || m.Direction != "outbound-reply" ||
					!smSID.MatchString(m.Sid) || m.Sid == res.Sid || m.AccountSid != testSID {
					t.Errorf("reply %d = %+v, want %q from %s to %s", i, m, body, number, member)
				}
				if res.Replies[i].Sid != m.Sid {
					t.Errorf("result reply %d sid = %s, outbox has %s", i, res.Replies[i].Sid, m.Sid)
				}
			}
		})
	}
}

func TestReplyErrors(t *testing.T) {
	wh := newHook(t)
	tests := []struct {
		name     string
		inbound  string
		body     any
		wantCode int
	}{
		{"no inbound url", "", Reply{From: "+15552013344", To: "+15550001111", Body: "hi"}, http.StatusConflict},
		{"missing from", wh.srv.URL, Reply{To: "+15550001111", Body: "hi"}, http.StatusBadRequest},
		{"missing to", wh.srv.URL, Reply{From: "+15552013344", Body: "hi"}, http.StatusBadRequest},
		{"malformed json", wh.srv.URL, []int{1}, http.StatusBadRequest},
		{"webhook unreachable", "http://127.0.0.1:1/inbound", Reply{From: "+15552013344", To: "+15550001111"}, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{InboundURL: tt.inbound})
			var out struct {
				Error string `json:"error"`
			}
			if code := doJSON(t, http.MethodPost, h.srv.URL+"/sim/reply", tt.body, &out); code != tt.wantCode || out.Error == "" {
				t.Errorf("answer = %d %+v, want %d with an error", code, out, tt.wantCode)
			}
			wh.none(t)
		})
	}
}
