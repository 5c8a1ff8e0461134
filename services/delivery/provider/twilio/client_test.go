package twilio

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/musterhq/muster/services/delivery/provider"
)

const (
	testSID   = "AC00000000000000000000000000000000"
	testToken = "testtoken0000000000000000000000000"
)

// twilioError answers like Twilio's API does for a failed request.
func twilioError(status, code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(fmt.Sprintf(`{"code": %d, "message": "error", "more_info": "https://www.twilio.com/docs/errors/%d", "status": %d}`, code, code, status)))
	}
}

func TestSendClassifiesProviderAnswers(t *testing.T) {
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    provider.Kind
		code    string
	}{
		{"too many requests", twilioError(429, 20429), provider.Retryable, "20429"},
		{"opted out at carrier", twilioError(400, 21610), provider.Stopped, "21610"},
		{"invalid number", twilioError(400, 21211), provider.Permanent, "21211"},
		{"landline", twilioError(400, 21614), provider.Permanent, "21614"},
		{"server error", twilioError(500, 20500), provider.Ambiguous, "20500"},
		{"wrong credentials", twilioError(401, 20003), provider.Unauthorized, "20003"},
		{"permission denied", twilioError(403, 20003), provider.Unauthorized, "20003"},
		{"gateway garbage", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		}, provider.Ambiguous, ""},
		// Twilio took the request; what it did with it is not known.
		{"accepted without a sid", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"status": "queued", "sid": null}`))
		}, provider.Ambiguous, ""},
		{"accepted, answer cut short", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"sid": "SM0123`))
		}, provider.Ambiguous, ""},
		{"timeout after accept", func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(time.Second):
			}
		}, provider.Ambiguous, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			cl, err := NewClient(Config{AccountSID: testSID, AuthToken: testToken, APIURL: srv.URL, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Send(context.Background(), provider.SMS{To: "+12125550101", From: "+15550001111", Body: "hi"})
			kind, code := provider.Classify(err)
			if kind != c.want || code != c.code {
				t.Fatalf("got %s (code %q), want %s (code %q); err = %v", kind, code, c.want, c.code, err)
			}
		})
	}
}

func TestSendToClosedPortIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the connection is refused, nothing was sent
	cl, err := NewClient(Config{AccountSID: testSID, AuthToken: testToken, APIURL: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Send(context.Background(), provider.SMS{To: "+12125550101", From: "+15550001111", Body: "hi"})
	if kind, _ := provider.Classify(err); kind != provider.Retryable {
		t.Fatalf("refused connection classified %s: %v", kind, err)
	}
}

func TestSendPostsWhatTwilioExpects(t *testing.T) {
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" || user != testSID || pass != testToken {
			t.Errorf("request %s with user %q", r.URL.Path, user)
		}
		_ = r.ParseForm()
		got = map[string]string{}
		for k := range r.PostForm {
			got[k] = r.PostForm.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued"}`))
	}))
	defer srv.Close()
	cl, err := NewClient(Config{AccountSID: testSID, AuthToken: testToken, APIURL: srv.URL, PublicURL: "https://x.org/"})
	if err != nil {
		t.Fatal(err)
	}
	sid, err := cl.Send(context.Background(), provider.SMS{
		MessageID: "1", To: "+12125550101", ServiceID: "MG0123", Body: "hi", Validity: 90 * time.Minute,
	})
	if err != nil || sid != "SM0123456789abcdef0123456789abcdef" {
		t.Fatalf("Send = %q, %v", sid, err)
	}
	want := map[string]string{"To": "+12125550101", "MessagingServiceSid": "MG0123", "Body": "hi",
		"StatusCallback": "https://x.org" + StatusPath + "?message_id=1", "ValidityPeriod": "5400"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("form %s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["From"]; ok {
		t.Error("From sent alongside a messaging service")
	}
}
