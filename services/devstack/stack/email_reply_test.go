package stack_test

import (
	"context"
	"github.com/musterhq/muster/shared/testkit"
	"net/http"
	"strings"
	"testing"
)

// Members answer a campaign email through every real part: an ordinary
// reply reaches the organizers' inbox in campaigns with its campaign and
// sender, and an "unsubscribe" reply takes the address off in delivery
// and opts it out in contacts' ledger, as the member's own act.
func TestEmailRepliesReachTheInboxAndTheLedger(t *testing.T) {
	st := startStack(t, false)
	ids := map[string]string{}
	for name, addr := range map[string]string{"Ana": "ana@local1199.org", "Bo": "bo@local1199.org"} {
		var c struct {
			ID string `json:"id"`
		}
		if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": name, "email": addr, "tags": []string{"mail"}}, &c); code != 201 {
			t.Fatalf("create %s = %d", name, code)
		}
		ids[addr] = c.ID
	}
	var camp struct {
		ID string `json:"id"`
	}
	code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns", map[string]any{
		"name": "Contract vote", "channel": "email", "audience": map[string]string{"tag": "mail"},
		"email": map[string]string{"subject": "Contract vote Thursday", "text": "Hi {{first_name}}, vote at the union hall, 5pm."},
	}, &camp)
	if code != 201 {
		t.Fatalf("create campaign = %d", code)
	}
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+camp.ID+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "two emails", func() bool { return len(st.Sim.Emails()) == 2 })
	for _, e := range st.Sim.Emails() {
		if !strings.HasPrefix(e.ReplyTo, "reply+") {
			t.Fatalf("email to %s has Reply-To %q", e.To, e.ReplyTo)
		}
		words := "Can I bring my kids?"
		if e.To == "bo@local1199.org" {
			words = "unsubscribe"
		}
		if code, err := st.Sim.SendEmailReply(context.Background(), e.Answer(words)); err != nil || code != http.StatusOK {
			t.Fatalf("reply from %s = %d, %v", e.To, code, err)
		}
	}
	var inbox struct {
		Items []struct {
			From, Body, Channel string
			CampaignID          *string `json:"campaign_id"`
		} `json:"items"`
	}
	testkit.Eventually(t, "Ana's reply in the inbox", func() bool {
		inbox.Items = nil
		call(t, "campaigns", "GET", st.CampaignsURL+"/inbox", nil, &inbox)
		return len(inbox.Items) > 0
	})
	if it := inbox.Items[0]; len(inbox.Items) != 1 || it.From != "ana@local1199.org" || it.Body != "Can I bring my kids?" ||
		it.CampaignID == nil || *it.CampaignID != camp.ID {
		t.Fatalf("inbox = %+v", inbox.Items)
	}
	var sup struct {
		Suppressions []struct{ Channel, Address, Source string } `json:"suppressions"`
	}
	call(t, "delivery", "GET", st.DeliveryURL+"/suppressions", nil, &sup)
	if len(sup.Suppressions) != 1 || sup.Suppressions[0].Address != "bo@local1199.org" || sup.Suppressions[0].Channel != "email" {
		t.Fatalf("suppressions = %+v", sup.Suppressions)
	}
	testkit.Eventually(t, "Bo's opt-out in the ledger", func() bool {
		var c struct {
			Current []struct{ Channel, Status, Source string } `json:"current"`
		}
		call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+ids["bo@local1199.org"]+"/consent", nil, &c)
		for _, s := range c.Current {
			if s.Channel == "email" && s.Status == "opted_out" && s.Source == "inbound_email_reply" {
				return true
			}
		}
		return false
	})
}
