package campaign_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// A campaign as the public API takes it (POST /api/campaigns, passed on to
// campaigns): whatever the body, decoding and validation either accept it
// or refuse it as invalid input, never panic and never fail internally.
func FuzzDraftFromJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Vote","body":"Vote Thursday, {{first_name}}","audience":{"tag":"rally"}}`,
		`{"name":"Meet","kind":"meeting","channel":"both","body":"Meet","audience":{"tag":"a"},"meeting":{"starts_at":"2027-01-05T18:30:00-05:00","time_zone":"America/New_York","place":"Hall","reminders":["24h","90m"]},"email":{"subject":"s","text":"t"}}`,
		`{"name":"Sign","kind":"petition","body":"Sign {{sign_link}}","audience":{"filter":{"and":[{"tag":"x"}]}}}`,
		`{"name":"","body":""}`, `{"name":1}`, `[]`, `null`, `{"unknown":true}`, `{"name":"a"}{"name":"b"}`, `{"body":"{{#if}}"}`,
	} {
		f.Add(seed)
	}
	now := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		var d campaign.Draft
		err := web.DecodeJSON(httptest.NewRequest("POST", "/campaigns", strings.NewReader(body)), &d)
		if err == nil {
			_, err = d.Validate(now, "America/New_York")
		}
		if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
			t.Fatalf("body %q: %v (kind %s), want nil or invalid", body, err, apperr.KindOf(err))
		}
	})
}
