package message

import (
	"testing"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/events"
)

// A member whose shift attribute is night has their texts asked for with
// the NIGHTS default; delivery decides whether it applies. Email carries
// none: windows are a texting rule.
func TestNightShiftAsksForTheNightsDefault(t *testing.T) {
	c := meeting(t)
	b, err := New(&c, campaign.PartMain, 0, "", settings(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		shift, want string
	}{
		{"night", events.DefaultWindowNights},
		{" Night ", events.DefaultWindowNights},
		{"noche", events.DefaultWindowNights},
		{"day", ""},
		{"", ""},
	} {
		m := events.Member{ContactID: "n", Phone: "+12125550109", Email: "n@example.org", Fields: map[string]string{"shift": tt.shift}}
		if got := b.Build(&m, events.ChannelSMS, now).DefaultWindow; got != tt.want {
			t.Errorf("shift %q: default window %q, want %q", tt.shift, got, tt.want)
		}
		if got := b.Build(&m, events.ChannelEmail, now).DefaultWindow; got != "" {
			t.Errorf("shift %q: an email asks for window %q", tt.shift, got)
		}
	}
}
