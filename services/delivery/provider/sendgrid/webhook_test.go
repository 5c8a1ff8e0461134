package sendgrid

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/status"
	"github.com/musterhq/muster/shared/events"
)

type recorder struct{ got [][]provider.EmailEvent }

func (r *recorder) EmailEvents(_ context.Context, evs []provider.EmailEvent) error {
	r.got = append(r.got, evs)
	return nil
}

func keyPair(t testing.TB) (*ecdsa.PrivateKey, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return priv, base64.StdEncoding.EncodeToString(der)
}

// sign signs a body the way SendGrid does: ECDSA over SHA-256 of the
// timestamp followed by the raw body, DER-encoded, base64.
func sign(t testing.TB, priv *ecdsa.PrivateKey, ts string, body []byte) string {
	t.Helper()
	h := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func serve(t testing.TB, pub string, recv EventReceiver, body, sig, ts, ctype string) int {
	t.Helper()
	key, err := ParsePublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	NewEventWebhook(key, recv, zap.NewNop()).Routes(r)
	req := httptest.NewRequest("POST", EventsPath, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if sig != "" {
		req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", sig)
		req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w.Code
}

// Captured shape of a SendGrid event post (custom_args copied to the top
// level).
const captured = `[{"email":"ana@local1199.org","timestamp":1764336600,"event":"bounce","type":"bounce","reason":"550 5.1.1 unknown user","status":"5.1.1","sg_event_id":"ZGVsaXZlcmVk","sg_message_id":"14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0","message_id":"6f1c2b3a-4d5e-4f70-8a9b-0c1d2e3f4a5b","campaign_id":"00000000-0000-4000-8000-000000000001","contact_id":"c1"}]`

func TestEventWebhookVerifiesBeforeDecoding(t *testing.T) {
	priv, pub := keyPair(t)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	old := strconv.FormatInt(time.Now().Add(-48*time.Hour).Unix(), 10)
	cases := []struct {
		name, body, sig, ts, ctype string
		want                       int
	}{
		{"signed", captured, sign(t, priv, ts, []byte(captured)), ts, "application/json", http.StatusNoContent},
		{"unsigned", captured, "", "", "application/json", http.StatusForbidden},
		{"tampered", strings.Replace(captured, "bounce", "delivered", 1), sign(t, priv, ts, []byte(captured)), ts, "application/json", http.StatusForbidden},
		{"replayed two days later", captured, sign(t, priv, old, []byte(captured)), old, "application/json", http.StatusForbidden},
		{"form body", "a=b", sign(t, priv, ts, []byte("a=b")), ts, "application/x-www-form-urlencoded", http.StatusBadRequest},
		{"event without id", `[{"event":"delivered"}]`, sign(t, priv, ts, []byte(`[{"event":"delivered"}]`)), ts, "application/json", http.StatusBadRequest},
		{"signed garbage", "{not json", sign(t, priv, ts, []byte("{not json")), ts, "application/json", http.StatusBadRequest},
	}
	for _, c := range cases {
		rec := &recorder{}
		if got := serve(t, pub, rec, c.body, c.sig, c.ts, c.ctype); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
		if reached := len(rec.got) > 0; reached != (c.want == http.StatusNoContent) {
			t.Errorf("%s: reached the receiver = %v", c.name, reached)
		}
		if c.want == http.StatusNoContent {
			e := rec.got[0][0]
			if e.Name != "bounce" || e.Status != status.Undelivered || e.Suppress != events.ConsentBounced ||
				e.MessageID != "6f1c2b3a-4d5e-4f70-8a9b-0c1d2e3f4a5b" || e.ID != "ZGVsaXZlcmVk" {
				t.Errorf("decoded %+v", e)
			}
		}
	}
	if _, err := ParsePublicKey(base64.StdEncoding.EncodeToString([]byte("not a key"))); err == nil {
		t.Error("a non-key parsed as the webhook key")
	}
}

func FuzzEventWebhookRefusesUnsigned(f *testing.F) {
	_, pub := keyPair(f)
	f.Add(captured, "application/json")
	f.Add("[]", "application/json")
	f.Add("%%%", "text/plain")
	f.Fuzz(func(t *testing.T, body, ctype string) {
		rec := &recorder{}
		code := serve(t, pub, rec, body, "MEUCIQ==", "1", ctype)
		if code < 400 || code >= 500 || len(rec.got) != 0 {
			t.Fatalf("unsigned post answered %d, reached receiver %v", code, len(rec.got) != 0)
		}
	})
}

// SendGrid's event classes in our words: what moves the message, what
// suppresses the address.
func TestEventsMapToOurVocabulary(t *testing.T) {
	cases := []struct {
		in       Event
		status   status.Status
		suppress string
	}{
		{Event{Event: "processed"}, status.Accepted, ""},
		{Event{Event: "delivered"}, status.Delivered, ""},
		{Event{Event: "bounce", Type: "bounce"}, status.Undelivered, events.ConsentBounced},
		{Event{Event: "bounce", Type: "blocked"}, status.Undelivered, ""},
		{Event{Event: "dropped", Reason: "Bounced Address"}, status.Failed, events.ConsentBounced},
		{Event{Event: "dropped", Reason: "Spam Content"}, status.Failed, ""},
		{Event{Event: "spamreport"}, "", events.ConsentComplained},
		{Event{Event: "group_unsubscribe"}, "", events.ConsentOptedOut},
		{Event{Event: "open"}, "", ""},
	}
	for _, c := range cases {
		got := c.in.Neutral()
		if got.Status != c.status || got.Suppress != c.suppress || got.Name != c.in.Event {
			t.Errorf("%s/%s/%s = %+v, want status %q suppress %q", c.in.Event, c.in.Type, c.in.Reason, got, c.status, c.suppress)
		}
	}
	if got := (Event{Event: "delivered", MessageID: "not-ours"}).Neutral(); got.MessageID != "" {
		t.Errorf("a foreign message_id was kept: %+v", got)
	}
}
