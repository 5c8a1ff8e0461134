package stack_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"strings"
	"testing"

	"github.com/musterhq/muster/services/simulator/sim"
)

// TestEveryStopHeard is issue 15's story through every real part: members
// who say stop in their own words ("Please STOP", "ALTO") are suppressed
// before the webhook answers, each gets one confirmation in their
// language, a member who is talking is not, and the next campaign skips
// exactly the two who stopped.
func TestEveryStopHeard(t *testing.T) {
	st := startStack(t, false)
	phones := map[string]string{"Ana": "+12125550111", "Beto": "+12125550112", "Cy": "+12125550113"}
	for name, phone := range phones {
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": name, "phone": phone, "tags": []string{"rally"}}, nil); code != 201 {
			t.Fatalf("create %s = %d", name, code)
		}
	}
	first := createCampaign(t, st, "Rally", "Hi {{first_name}}, rally Friday 5pm at City Hall. Reply STOP to opt out.")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+first+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "three accepted texts", func() bool {
		n := 0
		for _, m := range messages(t, st, first) {
			if m.Status == "accepted" {
				n++
			}
		}
		return n == 3
	})

	suppressed := func() map[string]bool {
		var sup struct {
			Suppressions []struct{ Address string } `json:"suppressions"`
		}
		call(t, "delivery", "GET", st.DeliveryURL+"/suppressions", nil, &sup)
		out := map[string]bool{}
		for _, s := range sup.Suppressions {
			out[s.Address] = true
		}
		return out
	}
	for _, c := range []struct {
		name, body, confirmation string
	}{
		{"Ana", "Please STOP", "will get no more texts"},
		{"Beto", "ALTO", "Ya no recibirá más mensajes"},
	} {
		res, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones[c.name], To: "+15550001111", Body: c.body})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%q webhook = %+v, %v", c.body, res, err)
		}
		if !suppressed()[phones[c.name]] {
			t.Fatalf("%s is not suppressed right after %q was answered", c.name, c.body)
		}
		if got := outboxTo(st.Sim, phones[c.name], "outbound-reply"); len(got) != 1 || !strings.Contains(got[0].Body, c.confirmation) {
			t.Fatalf("%s's confirmations = %+v, want one saying %q", c.name, got, c.confirmation)
		}
	}
	// Cy is talking, not stopping.
	if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones["Cy"], To: "+15550001111", Body: "don't stop fighting! where is the bus stop?"}); err != nil {
		t.Fatal(err)
	}
	if suppressed()[phones["Cy"]] || len(outboxTo(st.Sim, phones["Cy"], "outbound-reply")) != 0 {
		t.Fatal("a member who is talking was suppressed or got a keyword reply")
	}

	second := createCampaign(t, st, "Reminder", "{{first_name|Friend}}, see you Friday!")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+second+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch second = %d", code)
	}
	testkit.Eventually(t, "the second campaign's text to Cy", func() bool {
		return messages(t, st, second)[phones["Cy"]].Status == "accepted"
	})
	// The two who stopped are left out of the audience (contacts has their
	// opt-outs) or, had they been sent, suppressed by delivery.
	for name, m := range messages(t, st, second) {
		if name != phones["Cy"] && m.Status != "suppressed" {
			t.Errorf("second campaign's message to %s is %s", name, m.Status)
		}
	}
	for _, name := range []string{"Ana", "Beto"} {
		if got := outboxTo(st.Sim, phones[name], "outbound-api"); len(got) != 1 {
			t.Fatalf("%s got %d campaign texts, want only the first", name, len(got))
		}
	}
}
