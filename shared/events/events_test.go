package events

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func fixedMeta(typ string, version int) Meta {
	return Meta{
		ID:            "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
		Type:          typ,
		Version:       version,
		OccurredAt:    time.Date(2026, 11, 28, 14, 30, 0, 0, time.UTC),
		CorrelationID: "corr-1",
	}
}

// TestGolden pins the wire form of every event: a change that alters what
// another service reads must change a golden file, visibly, in review.
func TestGolden(t *testing.T) {
	at := time.Date(2026, 11, 28, 14, 30, 0, 0, time.UTC)
	cases := map[string]any{
		"send_requested": &SendRequested{
			Meta:           fixedMeta(TypeSendRequested, VersionSendRequested),
			IdempotencyKey: IdempotencyKey("camp1", 0, "ct1", ChannelSMS),
			CampaignID:     "camp1", ContactID: "ct1", Channel: ChannelSMS,
			To: "+15552013344", Body: "Hi Ana, rally at 5pm. Reply STOP to opt out.",
			TimeZone: "America/New_York",
		},
		"send_requested_content": &SendRequested{
			Meta:           fixedMeta(TypeSendRequested, VersionSendRequested),
			IdempotencyKey: IdempotencyKey("camp1", 0, "ct1", ChannelEmail),
			CampaignID:     "camp1", ContactID: "ct1", Channel: ChannelEmail, To: "ana@local1199.org",
			ContentRef:  "sha256:" + strings.Repeat("0f", 32),
			MergeValues: []string{"Ana", `<b>&"`},
		},
		"status_changed": &StatusChanged{
			Meta: fixedMeta(TypeStatusChanged, VersionStatusChanged),
			StatusChange: StatusChange{
				MessageID: "msg1", IdempotencyKey: "c.camp1.s0.ct1.sms", CampaignID: "camp1",
				ContactID: "ct1", Channel: ChannelSMS, Status: StatusDelivered, ProviderID: "SM123",
			},
		},
		"statuses_changed": &StatusesChanged{
			Meta: fixedMeta(TypeStatusesChanged, VersionStatuses),
			Changes: []StatusChange{
				{MessageID: "msg2", IdempotencyKey: "c.camp1.s0.ct2.email", CampaignID: "camp1", ContactID: "ct2",
					Channel: ChannelEmail, Status: StatusAccepted, ProviderID: "sg-x-message-id"},
				{MessageID: "msg3", IdempotencyKey: "c.camp1.s0.ct3.email", CampaignID: "camp1", ContactID: "ct3",
					Channel: ChannelEmail, Status: StatusSuppressed, Reason: "suppressed: unsubscribed"},
			},
		},
		"inbound_received": &InboundReceived{
			Meta:      fixedMeta(TypeInboundReceived, VersionInbound),
			MessageID: "in1", ProviderID: "SM456", Channel: ChannelSMS,
			From: "+15552013344", To: "+15550001111", Body: "YES", CampaignID: "camp1", ContactID: "ct1",
		},
		"consent_changed": &ConsentChanged{
			Meta:    fixedMeta(TypeConsentChanged, VersionConsent),
			Channel: ChannelSMS, Address: "+15552013344", Change: ConsentOptedOut,
			Source: SourceInboundSMS, Evidence: "STOP", At: at,
		},
		"rhythm_changed": &RhythmChanged{
			Meta:    fixedMeta(TypeRhythmChanged, VersionRhythm),
			Channel: ChannelSMS, Address: "+15552013344", Change: "nights", Source: SourceInboundSMS,
			Evidence: "NIGHTS (SM789)", Window: "16:00-21:00", Channels: "both", Language: "en", At: at,
		},
		"send_requested_rules": &SendRequested{
			Meta:           fixedMeta(TypeSendRequested, VersionSendRequested),
			IdempotencyKey: IdempotencyKey("camp1", 1, "ct1", ChannelSMS),
			CampaignID:     "camp1", Step: 1, ContactID: "ct1", Channel: ChannelSMS,
			To: "+15552013344", Body: "Meeting at 6pm tonight", State: "TX",
			NotAfter: time.Date(2026, 11, 28, 23, 0, 0, 0, time.UTC),
		},
		"audience_page": &AudiencePage{
			Members: []Member{{ContactID: "ct1", FirstName: "Ana", LastName: "Ruiz", Phone: "+15552013344", TimeZone: "America/New_York"}},
			Next:    "ct1",
		},
	}
	for name, ev := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("reading golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("wire form changed for %s:\n got: %s\nwant: %s", name, got, want)
			}
			// The golden file must decode back into the same value.
			back := reflect.New(reflect.TypeOf(ev).Elem()).Interface()
			if err := json.Unmarshal(want, back); err != nil {
				t.Fatalf("unmarshal golden: %v", err)
			}
			if !reflect.DeepEqual(back, ev) {
				t.Errorf("round trip differs: %#v != %#v", back, ev)
			}
		})
	}
}

func TestNewMetaUsesOwnIDAsCorrelationWhenNoneGiven(t *testing.T) {
	now := time.Now()
	m := NewMeta(TypeConsentChanged, VersionConsent, "", now)
	if m.ID == "" || m.CorrelationID != m.ID {
		t.Fatalf("want correlation id = event id, got %+v", m)
	}
	m2 := NewMeta(TypeConsentChanged, VersionConsent, "abc", now)
	if m2.CorrelationID != "abc" || m2.ID == m.ID {
		t.Fatalf("want given correlation id and a fresh id, got %+v", m2)
	}
}

// FuzzDecodeSendRequested holds the fast decoder to encoding/json: for any
// input, both accept or both refuse, and what they accept is the same.
func FuzzDecodeSendRequested(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "send_requested.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	rules, err := os.ReadFile(filepath.Join("testdata", "send_requested_rules.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rules)
	f.Add([]byte(`{"idempotency_key":"k","campaign_id":"c","contact_id":"ct","channel":"email","to":"a@b.org","subject":"S","body":"B","html":"<p>\u00e9</p>","urgent":true,"step":2,"attachments":[{"filename":"a.ics","content_type":"text/calendar","content":"QkVHSU4="}]}`))
	f.Add([]byte(`{"IDEMPOTENCY_KEY":"k","campaign_id":"c","contact_id":"ct","unknown":{"x":[1,2]},"body":"dup","body":"last"}`))
	f.Add([]byte(`{"idempotency_key":"k","campaign_id":"c","contact_id":"ct","step":"1"}`))
	f.Add([]byte(`{"idempotency_key":"k","campaign_id":"c","contact_id":"ct","version":2}`))
	f.Add([]byte(`{"idempotency_key":"k","campaign_id":"c","contact_id":"ct","occurred_at":"not a time"}`))
	f.Add([]byte("{\"idempotency_key\":\"k\xff\",\"campaign_id\":\"c\",\"contact_id\":\"ct\"}"))
	f.Add([]byte(`[]`))
	// Keys match whatever their case, so this stamps a type: refused.
	f.Add([]byte(`{"tYpe":"0","idempotenCY_keY":"0","CAmpAign_id":"0","ContACt_id":"0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeSendRequested(data)
		var want SendRequested
		stdErr := json.Unmarshal(data, &want)
		if (err == nil) != (stdErr == nil && Check(want) == nil && want.IdempotencyKey != "" && want.CampaignID != "" && want.ContactID != "") {
			t.Fatalf("decoder disagrees with encoding/json on %q: fast %v, std %v", data, err, stdErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %q differently:\nfast %#v\n std %#v", data, got, want)
		}
	})
}

// Encode leaves HTML as it is, and what it writes decodes to the same
// request with both decoders.
func TestEncodeKeepsHTMLLiteral(t *testing.T) {
	req := SendRequested{
		Meta:           fixedMeta(TypeSendRequested, VersionSendRequested),
		IdempotencyKey: IdempotencyKey("camp1", 0, "ct1", ChannelEmail), CampaignID: "camp1", ContactID: "ct1",
		Channel: ChannelEmail, To: "ana@local1199.org", Subject: "Vote <today> & \"tomorrow\"",
		Body: "Vote & win", HTML: `<p style="color:#222">Vote at <b>5pm</b> &amp; bring a friend</p>`,
	}
	data, err := Encode(&req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`<p style=\"color:#222\">Vote at <b>5pm</b> &amp; bring`)) || bytes.HasSuffix(data, []byte("\n")) {
		t.Fatalf("encoded = %s", data)
	}
	got, err := DecodeSendRequested(data)
	if err != nil {
		t.Fatal(err)
	}
	var std SendRequested
	if err := json.Unmarshal(data, &std); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, req) || !reflect.DeepEqual(std, req) {
		t.Fatalf("round trip:\n got %#v\n std %#v\nwant %#v", got, std, req)
	}
}
