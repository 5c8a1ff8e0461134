package sim

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

var smSID = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestCreateMessageDecodesInTwilioClient(t *testing.T) {
	tests := []struct {
		name       string
		params     *openapi.CreateMessageParams
		wantStatus string
		wantFrom   *string
		wantMSS    *string
		wantSegs   string
	}{
		{
			name:       "from number",
			params:     (&openapi.CreateMessageParams{}).SetTo("+15552013344").SetFrom("+15550001111").SetBody("Game at 6pm"),
			wantStatus: "queued",
			wantFrom:   ptr("+15550001111"),
			wantSegs:   "1",
		},
		{
			name: "messaging service only",
			params: (&openapi.CreateMessageParams{}).SetTo("+15552013344").
				SetMessagingServiceSid("MG11111111111111111111111111111111").SetBody(strings.Repeat("x", 161)),
			wantStatus: "accepted",
			wantMSS:    ptr("MG11111111111111111111111111111111"),
			wantSegs:   "2",
		},
		{
			name: "from and messaging service",
			params: (&openapi.CreateMessageParams{}).SetTo("+15552013344").SetFrom("+15550001111").
				SetMessagingServiceSid("MG11111111111111111111111111111111").SetBody("Привет"),
			wantStatus: "queued",
			wantFrom:   ptr("+15550001111"),
			wantMSS:    ptr("MG11111111111111111111111111111111"),
			wantSegs:   "1",
		},
	}
	h := newHarness(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			got, err := h.api.CreateMessage(tt.params)
			if err != nil {
				t.Fatalf("CreateMessage: %v", err)
			}
			if got.Sid == nil || !smSID.MatchString(*got.Sid) {
				t.Fatalf("sid = %v, want SM + 32 hex", got.Sid)
			}
			checks := []struct {
				field     string
				got, want *string
			}{
				{"status", got.Status, &tt.wantStatus},
				{"to", got.To, tt.params.To},
				{"from", got.From, tt.wantFrom},
				{"messaging_service_sid", got.MessagingServiceSid, tt.wantMSS},
				{"body", got.Body, tt.params.Body},
				{"num_segments", got.NumSegments, &tt.wantSegs},
				{"num_media", got.NumMedia, ptr("0")},
				{"direction", got.Direction, ptr("outbound-api")},
				{"api_version", got.ApiVersion, ptr("2010-04-01")},
				{"account_sid", got.AccountSid, ptr(testSID)},
				{"uri", got.Uri, ptr("/2010-04-01/Accounts/" + testSID + "/Messages/" + *got.Sid + ".json")},
				{"price", got.Price, nil},
				{"error_message", got.ErrorMessage, nil},
			}
			for _, c := range checks {
				if (c.got == nil) != (c.want == nil) || (c.got != nil && *c.got != *c.want) {
					t.Errorf("%s = %v, want %v", c.field, deref(c.got), deref(c.want))
				}
			}
			if got.ErrorCode != nil {
				t.Errorf("error_code = %d, want null", *got.ErrorCode)
			}
			for name, v := range map[string]*string{"date_created": got.DateCreated, "date_updated": got.DateUpdated, "date_sent": got.DateSent} {
				if v == nil {
					t.Errorf("%s missing", name)
					continue
				}
				ts, err := time.Parse(time.RFC1123Z, *v)
				if err != nil || ts.Before(before) || !strings.HasSuffix(*v, "+0000") {
					t.Errorf("%s = %q, want a recent RFC1123Z time in +0000 (err %v)", name, *v, err)
				}
			}

			m, ok := h.sim.Message(*got.Sid)
			if !ok {
				t.Fatalf("message %s not in outbox", *got.Sid)
			}
			if m.To != *tt.params.To || m.Body != *tt.params.Body || m.Status != tt.wantStatus {
				t.Errorf("outbox message = %+v", m)
			}
		})
	}
	if n := len(h.sim.Outbox()); n != len(tests) {
		t.Errorf("outbox has %d messages, want %d", n, len(tests))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestCreateMessageValidation(t *testing.T) {
	valid := func() *openapi.CreateMessageParams {
		return (&openapi.CreateMessageParams{}).SetTo("+15552013344").SetFrom("+15550001111").SetBody("hi")
	}
	tests := []struct {
		name     string
		params   *openapi.CreateMessageParams
		wantCode int // 0 means success
	}{
		{"missing to", (&openapi.CreateMessageParams{}).SetFrom("+15550001111").SetBody("hi"), 21604},
		{"to without plus", valid().SetTo("15552013344"), 21211},
		{"to too short", valid().SetTo("+1234567"), 21211},
		{"to shortest valid", valid().SetTo("+12345678"), 0},
		{"to longest valid", valid().SetTo("+123456789012345"), 0},
		{"to too long", valid().SetTo("+1234567890123456"), 21211},
		{"to with letters", valid().SetTo("+1555CALLNOW"), 21211},
		{"no from or service", (&openapi.CreateMessageParams{}).SetTo("+15552013344").SetBody("hi"), 21603},
		{"missing body", (&openapi.CreateMessageParams{}).SetTo("+15552013344").SetFrom("+15550001111"), 21602},
		{"body at limit", valid().SetBody(strings.Repeat("é", 1600)), 0},
		{"body over limit", valid().SetBody(strings.Repeat("a", 1601)), 21617},
		{"validity period ok", valid().SetValidityPeriod(600), 0},
	}
	h := newHarness(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(h.sim.Outbox())
			_, err := h.api.CreateMessage(tt.params)
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("CreateMessage: %v", err)
				}
				if len(h.sim.Outbox()) != n+1 {
					t.Errorf("accepted message not recorded")
				}
				return
			}
			var te *client.TwilioRestError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *client.TwilioRestError", err)
			}
			if te.Code != tt.wantCode || te.Status != http.StatusBadRequest {
				t.Errorf("code/status = %d/%d, want %d/400", te.Code, te.Status, tt.wantCode)
			}
			if !strings.HasSuffix(te.MoreInfo, "/errors/"+strconv.Itoa(tt.wantCode)) {
				t.Errorf("more_info = %q", te.MoreInfo)
			}
			if len(h.sim.Outbox()) != n {
				t.Errorf("rejected message was recorded")
			}
		})
	}
}

func TestValidityPeriodStored(t *testing.T) {
	h := newHarness(t, Config{})
	msg, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo("+15552013344").
		SetFrom("+15550001111").SetBody("hi").SetValidityPeriod(600))
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if m, _ := h.sim.Message(*msg.Sid); m.ValidityPeriod != 600 {
		t.Errorf("validity period = %d, want 600", m.ValidityPeriod)
	}
}

func TestTwilioAuth(t *testing.T) {
	h := newHarness(t, Config{})
	params := (&openapi.CreateMessageParams{}).SetTo("+15552013344").SetFrom("+15550001111").SetBody("hi")
	tests := []struct {
		name       string
		api        *openapi.ApiService
		params     *openapi.CreateMessageParams
		wantCode   int
		wantStatus int
	}{
		{"wrong token", twilioAPI(t, h.srv.URL, testSID, "wrongtoken"), params, 20003, 401},
		{"wrong account", twilioAPI(t, h.srv.URL, "AC22222222222222222222222222222222", testToken), params, 20003, 401},
		{"path account differs", h.api, (&openapi.CreateMessageParams{}).SetPathAccountSid("AC22222222222222222222222222222222").
			SetTo("+15552013344").SetFrom("+15550001111").SetBody("hi"), 20404, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.api.CreateMessage(tt.params)
			var te *client.TwilioRestError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want *client.TwilioRestError", err)
			}
			if te.Code != tt.wantCode || te.Status != tt.wantStatus {
				t.Errorf("code/status = %d/%d, want %d/%d", te.Code, te.Status, tt.wantCode, tt.wantStatus)
			}
		})
	}
	if n := len(h.sim.Outbox()); n != 0 {
		t.Errorf("outbox has %d messages after rejected requests", n)
	}

	// No credentials at all: plain HTTP.
	resp, err := http.Post(h.srv.URL+"/2010-04-01/Accounts/"+testSID+"/Messages.json",
		"application/x-www-form-urlencoded", strings.NewReader("To=%2B15552013344&From=%2B15550001111&Body=hi"))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", resp.StatusCode)
	}
}

func TestFetchMessage(t *testing.T) {
	h := newHarness(t, Config{})
	sent, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo("+15552013344").
		SetFrom("+15550001111").SetBody("hi").SetStatusCallback("http://127.0.0.1:1/unused"))
	if err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	if _, ok := h.sim.msgs.setStatus(*sent.Sid, "undelivered", "30003", time.Now()); !ok {
		t.Fatal("setStatus: message not found")
	}

	got, err := h.api.FetchMessage(*sent.Sid, nil)
	if err != nil {
		t.Fatalf("FetchMessage: %v", err)
	}
	if deref(got.Sid) != *sent.Sid || deref(got.Status) != "undelivered" {
		t.Errorf("fetched sid/status = %s/%s", deref(got.Sid), deref(got.Status))
	}
	if got.ErrorCode == nil || *got.ErrorCode != 30003 || deref(got.ErrorMessage) != "Unreachable destination handset" {
		t.Errorf("error code/message = %v/%s, want 30003", got.ErrorCode, deref(got.ErrorMessage))
	}

	_, err = h.api.FetchMessage("SM00000000000000000000000000000000", nil)
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Code != 20404 || te.Status != 404 {
		t.Errorf("unknown sid err = %v, want TwilioRestError 20404/404", err)
	}
}

func TestOutboxRoutes(t *testing.T) {
	h := newHarness(t, Config{})
	for _, to := range []string{"+15550000001", "+15550000002", "+15550000001"} {
		if _, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo(to).
			SetFrom("+15550001111").SetBody("to " + to)); err != nil {
			t.Fatalf("CreateMessage: %v", err)
		}
	}
	tests := []struct {
		name   string
		query  string
		wantTo []string
	}{
		{"all in send order", "", []string{"+15550000001", "+15550000002", "+15550000001"}},
		{"filter raw plus", "?to=+15550000001", []string{"+15550000001", "+15550000001"}},
		{"filter escaped plus", "?to=%2B15550000002", []string{"+15550000002"}},
		{"filter no match", "?to=%2B15559999999", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct {
				Messages []Message `json:"messages"`
			}
			if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/outbox"+tt.query, nil, &out); code != http.StatusOK {
				t.Fatalf("status = %d", code)
			}
			if out.Messages == nil {
				t.Fatal("messages is null, want a list")
			}
			if len(out.Messages) != len(tt.wantTo) {
				t.Fatalf("got %d messages, want %d", len(out.Messages), len(tt.wantTo))
			}
			for i, m := range out.Messages {
				if m.To != tt.wantTo[i] || m.Body != "to "+tt.wantTo[i] || !smSID.MatchString(m.Sid) ||
					m.Status != "queued" || m.Direction != "outbound-api" || m.NumSegments != 1 || m.CreatedAt.IsZero() {
					t.Errorf("message %d = %+v", i, m)
				}
			}
		})
	}

	if code := doJSON(t, http.MethodDelete, h.srv.URL+"/sim/outbox", nil, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE status = %d", code)
	}
	if n := len(h.sim.Outbox()); n != 0 {
		t.Errorf("outbox has %d messages after DELETE", n)
	}
}

func TestOutboxIsACopy(t *testing.T) {
	h := newHarness(t, Config{})
	if _, err := h.api.CreateMessage((&openapi.CreateMessageParams{}).SetTo("+15552013344").
		SetFrom("+15550001111").SetBody("original")); err != nil {
		t.Fatalf("CreateMessage: %v", err)
	}
	out := h.sim.Outbox()
	out[0].Body = "changed"
	if got := h.sim.Outbox()[0].Body; got != "original" {
		t.Errorf("stored body = %q after editing the copy", got)
	}
}
