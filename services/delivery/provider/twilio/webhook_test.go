package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/web"
)

// sign computes X-Twilio-Signature the way Twilio documents it.
func sign(token, fullURL string, form url.Values) string {
	return signature([]byte(token), fullURL, form)
}

func TestSignMatchesTwiliosPublishedVector(t *testing.T) {
	form := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"}}
	if got := sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form); got != "vOEb5UThFn24KEfnOFLQY2AE5FY=" {
		t.Fatalf("signature = %s", got)
	}
}

// TestSignedAgreesWithTwilioGo: the one-HMAC check of the URL as given
// accepts and refuses what twilio-go's validator does, including a
// signature over the URL with its port written out, which only the
// validator's second try accepts.
func TestSignedAgreesWithTwilioGo(t *testing.T) {
	h := NewWebhooks(testToken, public, &recorder{}, zaptest.NewLogger(t))
	target := public + StatusPath + "?m=0190f5c2-6d1a-7c3e-9b4d-2a1f0e3c5b7d"
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {"+12125550103"}}
	tampered := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "To": {"+12125550103"}}
	withPort := strings.Replace(target, ".org/", ".org:443/", 1)
	tests := []struct {
		name string
		sig  string
		form url.Values
		want bool
	}{
		{"signed over the URL as given", sign(testToken, target, form), form, true},
		{"signed over the URL with its port", sign(testToken, withPort, form), form, true},
		{"a parameter changed after signing", sign(testToken, target, form), tampered, false},
		{"signed with another token", sign("another token", target, form), form, false},
		{"signed over another URL", sign(testToken, public+InboundPath, form), form, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{}
			for k := range tt.form {
				params[k] = tt.form.Get(k)
			}
			if lib := h.validator.Validate(target, params, tt.sig); lib != tt.want {
				t.Fatalf("twilio-go's validator says %v, want %v", lib, tt.want)
			}
			if got := h.signed(target, tt.form, tt.sig); got != tt.want {
				t.Errorf("signed = %v, want %v", got, tt.want)
			}
		})
	}
}

type recorder struct {
	statuses []provider.StatusReport
	inbound  []provider.Inbound
	reply    string
	err      error
}

func (r *recorder) Status(_ context.Context, cb provider.StatusReport) error {
	r.statuses = append(r.statuses, cb)
	return r.err
}

func (r *recorder) Inbound(_ context.Context, in provider.Inbound) (string, error) {
	r.inbound = append(r.inbound, in)
	return r.reply, r.err
}

const public = "https://muster.example.org"

func post(t *testing.T, h http.Handler, path, contentType, body, sig string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if sig != "" {
		req.Header.Set("X-Twilio-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	out, _ := io.ReadAll(rec.Body)
	return rec.Code, string(out)
}

func handler(recv Receiver, t *testing.T) http.Handler {
	r := chi.NewRouter()
	NewWebhooks(testToken, public, recv, zaptest.NewLogger(t)).Routes(r)
	return r
}

// Captured shape of a Twilio inbound SMS webhook.
var inboundForm = url.Values{
	"ToCountry": {"US"}, "ToState": {"NY"}, "SmsMessageSid": {"SM2f6e4a0c1b0d4a7e9f1c2b3a4d5e6f70"},
	"NumMedia": {"0"}, "ToCity": {""}, "FromZip": {"10001"}, "SmsSid": {"SM2f6e4a0c1b0d4a7e9f1c2b3a4d5e6f70"},
	"FromState": {"NY"}, "SmsStatus": {"received"}, "FromCity": {"NEW YORK"}, "Body": {"Stop"},
	"FromCountry": {"US"}, "To": {"+15550001111"}, "ToZip": {""}, "NumSegments": {"1"},
	"MessageSid": {"SM2f6e4a0c1b0d4a7e9f1c2b3a4d5e6f70"}, "AccountSid": {testSID},
	"From": {"+12125550103"}, "ApiVersion": {"2010-04-01"},
}

func TestInboundVerifiedAndDecoded(t *testing.T) {
	rec := &recorder{reply: "You are unsubscribed & will get no more texts."}
	h := handler(rec, t)
	body := inboundForm.Encode()
	code, out := post(t, h, InboundPath, "application/x-www-form-urlencoded", body, sign(testToken, public+InboundPath, inboundForm))
	if code != 200 || len(rec.inbound) != 1 {
		t.Fatalf("inbound = %d %s", code, out)
	}
	in := rec.inbound[0]
	if in.From != "+12125550103" || in.Body != "Stop" || in.ProviderID != "SM2f6e4a0c1b0d4a7e9f1c2b3a4d5e6f70" || in.Answered != "" {
		t.Errorf("decoded %+v", in)
	}
	if !strings.Contains(out, "<Response><Message>You are unsubscribed &amp; will get no more texts.</Message></Response>") {
		t.Errorf("twiml = %s", out)
	}
}

func TestWebhooksRefuseWhatTheyCannotTrust(t *testing.T) {
	statusForm := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "AccountSid": {testSID}}
	statusPath := StatusPath + "?message_id=6f1c2b3a-4d5e-4f70-8a9b-0c1d2e3f4a5b"
	cases := []struct {
		name, path, ctype, body, sig string
		want                         int
	}{
		{"no signature", InboundPath, "application/x-www-form-urlencoded", inboundForm.Encode(), "", 403},
		{"forged signature", InboundPath, "application/x-www-form-urlencoded", inboundForm.Encode(), sign("wrong", public+InboundPath, inboundForm), 403},
		{"signed for another url", statusPath, "application/x-www-form-urlencoded", statusForm.Encode(), sign(testToken, public+StatusPath, statusForm), 403},
		{"json body", InboundPath, "application/json", `{"Body":"STOP"}`, "x", 400},
		{"oversized", InboundPath, "application/x-www-form-urlencoded", "Body=" + strings.Repeat("a", maxWebhookBody), "x", 400},
		{"not a form", InboundPath, "application/x-www-form-urlencoded", "%zz", "x", 400},
		{"unknown status", StatusPath, "application/x-www-form-urlencoded", "MessageSid=SM1&MessageStatus=received",
			sign(testToken, public+StatusPath, url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"received"}}), 400},
		{"status without status", StatusPath, "application/x-www-form-urlencoded", "MessageSid=SM1", sign(testToken, public+StatusPath, url.Values{"MessageSid": {"SM1"}}), 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &recorder{}
			code, out := post(t, handler(rec, t), c.path, c.ctype, c.body, c.sig)
			if code != c.want {
				t.Errorf("= %d %s, want %d", code, out, c.want)
			}
			if len(rec.inbound)+len(rec.statuses) != 0 {
				t.Error("a refused webhook reached the receiver")
			}
		})
	}
	// Signed correctly for its own URL, the status callback goes through
	// with our message id from the query string.
	rec := &recorder{}
	code, _ := post(t, handler(rec, t), statusPath, "application/x-www-form-urlencoded", statusForm.Encode(), sign(testToken, public+statusPath, statusForm))
	if code != 204 || len(rec.statuses) != 1 || rec.statuses[0].MessageID != "6f1c2b3a-4d5e-4f70-8a9b-0c1d2e3f4a5b" ||
		rec.statuses[0].Status != status.Delivered || rec.statuses[0].OptedOut {
		t.Fatalf("signed status = %d %+v", code, rec.statuses)
	}
	// Twilio's 21610 is the carrier's opt-out, in our words.
	optOut := url.Values{"MessageSid": {"SM2"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"21610"}}
	rec = &recorder{}
	code, _ = post(t, handler(rec, t), statusPath, "application/x-www-form-urlencoded", optOut.Encode(), sign(testToken, public+statusPath, optOut))
	if code != 204 || len(rec.statuses) != 1 || !rec.statuses[0].OptedOut || rec.statuses[0].Status != status.Undelivered {
		t.Fatalf("21610 status = %d %+v", code, rec.statuses)
	}
	// A receiver failure is the server's, so Twilio retries.
	rec = &recorder{err: errors.New("database down")}
	if code, body := post(t, handler(rec, t), statusPath, "application/x-www-form-urlencoded", statusForm.Encode(), sign(testToken, public+statusPath, statusForm)); code != 500 || strings.Contains(body, "database") {
		t.Errorf("receiver failure = %d %s, want 500 without the error's text", code, body)
	}
}

func FuzzWebhookDecode(f *testing.F) {
	f.Add(inboundForm.Encode(), "application/x-www-form-urlencoded")
	f.Add("Body=STOP&From=%2B1", "application/x-www-form-urlencoded; charset=utf-8")
	f.Add("%", "text/plain")
	f.Fuzz(func(t *testing.T, body, ctype string) {
		rec := &recorder{}
		r := chi.NewRouter()
		NewWebhooks(testToken, public, rec, zaptest.NewLogger(t)).Routes(r)
		code, _ := post(t, r, InboundPath, ctype, body, "forged")
		if code < 400 || code >= 500 {
			t.Fatalf("unsigned webhook answered %d", code)
		}
		if len(rec.inbound) != 0 {
			t.Fatal("unsigned webhook reached the receiver")
		}
	})
}

// A failure of ours answers Twilio with the JSON error shape, "internal
// error" and a request id, never the error's text (it may name the
// database); the text is logged once, under the same id.
func TestWebhookFailureAnswersGenericallyAndLogsOnce(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	r := chi.NewRouter()
	NewWebhooks(testToken, public, &recorder{err: errors.New("pq: relation messages at 10.0.3.7 does not exist")}, zap.New(core)).Routes(r)
	code, out := post(t, r, InboundPath, "application/x-www-form-urlencoded", inboundForm.Encode(), sign(testToken, public+InboundPath, inboundForm))
	var body web.ErrorBody
	if err := json.Unmarshal([]byte(out), &body); err != nil || code != 500 {
		t.Fatalf("answer = %d %s", code, out)
	}
	if body.Error != "internal error" || body.Kind != "internal" || body.RequestID == "" || strings.Contains(out, "10.0.3.7") {
		t.Fatalf("answer = %s, want internal error with a request id and no detail", out)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].Level != zapcore.ErrorLevel {
		t.Fatalf("logged %d entries, want one error: %+v", len(entries), entries)
	}
	fields := entries[0].ContextMap()
	if fields["request_id"] != body.RequestID || !strings.Contains(fmt.Sprint(fields["error"]), "10.0.3.7") {
		t.Fatalf("log fields = %v, want the detail under request id %s", fields, body.RequestID)
	}
}
