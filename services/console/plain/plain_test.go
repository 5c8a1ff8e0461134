package plain

import (
	"testing"
	"time"
)

func TestTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := time.Date(2026, 12, 8, 21, 0, 0, 0, time.UTC)
	if got := Time(at, ny, now); got != "Tue 8 Dec, 16:00 EST" {
		t.Errorf("Time = %q", got)
	}
	if got := Time(at.AddDate(-1, 0, 0), ny, now); got != "Mon 8 Dec 2025, 16:00 EST" {
		t.Errorf("last year = %q", got)
	}
	if got := Time(time.Time{}, ny, now); got != "" {
		t.Errorf("zero = %q", got)
	}
}

func TestWords(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Phone("+12125550101"), "(212) 555-0101"},
		{Phone("+442079460958"), "+442079460958"},
		{Phone("ana@example.org"), "ana@example.org"},
		{Consent("opted_out", "inbound_sms"), "opted out by text"},
		{Consent("opted_out", "organizer"), "removed by an organizer"},
		{Consent("bounced", "provider_event"), "bounced"},
		{Consent("subscribed", "import"), "subscribed by an import"},
		{Source("provider_event"), "by the carrier"},
		{MessageStatus("delivered", ""), "delivered"},
		{MessageStatus("queued", "member_window"), "waiting (member's own hours)"},
		{MessageStatus("queued", "frequency cap"), "waiting (daily or weekly cap)"},
		{CampaignStatus("launching"), "sending"},
		{DeferReason("some_new_reason"), "some new reason"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestFailure(t *testing.T) {
	for in, want := range map[string]string{
		"30005 unknown destination handset":               "Number no longer in service (30005)",
		"30003 unreachable handset":                       "Phone switched off or out of reach (30003)",
		"21610 attempt to send to unsubscribed recipient": "The member had texted STOP to this number (21610)",
		"550 bounce":          "The email address does not exist or refused the email (550)",
		"dropped":             "The email provider did not send it",
		"failed":              "Failed at the provider",
		"39999 something new": "Something new (39999)",
		"carrier_rejected":    "Carrier rejected",
		"":                    "Failed",
	} {
		if got := Failure(in); got != want {
			t.Errorf("Failure(%q) = %q, want %q", in, got, want)
		}
	}
}
