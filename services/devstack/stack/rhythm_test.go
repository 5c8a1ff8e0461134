package stack_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	campaignsdb "github.com/musterhq/muster/services/campaigns/migrations"
	contactsdb "github.com/musterhq/muster/services/contacts/migrations"
	delivery "github.com/musterhq/muster/services/delivery/app"
	deliverydb "github.com/musterhq/muster/services/delivery/migrations"
	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// startStackAt runs the platform on a test clock the test moves (delivery
// and the simulator read it; campaigns and contacts keep their own).
func startStackAt(t *testing.T, clock *testkit.Clock) *stack.Stack {
	t.Helper()
	st, err := stack.Start(context.Background(), stack.Options{
		NATSPort: -1, NATSDir: t.TempDir(),
		ContactsDB: testkit.Database(t, contactsdb.FS), CampaignsDB: testkit.Database(t, campaignsdb.FS),
		DeliveryDB:   testkit.Database(t, deliverydb.FS),
		ContactsAddr: "127.0.0.1:0", CampaignsAddr: "127.0.0.1:0", DeliveryAddr: "127.0.0.1:0", SimulatorAddr: "127.0.0.1:0",
		AutoCallbacks: true, RedisPrefix: redisPrefix(t), DeliveryOptions: delivery.Options{Clock: clock.Now},
		Callers: svcauthtest.Trusted(), Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stopping stack: %v", err)
		}
	})
	return st
}

// heldMessage is what the message log says of a text delivery holds.
type heldMessage struct {
	ID            string     `json:"id"`
	To            string     `json:"to"`
	Status        string     `json:"status"`
	DeferredUntil *time.Time `json:"deferred_until"`
	DeferReason   string     `json:"defer_reason"`
}

func logOf(t *testing.T, st *stack.Stack, campaignID, to string) (heldMessage, bool) {
	t.Helper()
	var out struct {
		Messages []heldMessage `json:"messages"`
	}
	if code := call(t, "delivery", "GET", st.DeliveryURL+"/messages?campaign_id="+campaignID, nil, &out); code != 200 {
		t.Fatalf("message log = %d", code)
	}
	for _, m := range out.Messages {
		if m.To == to {
			return m, true
		}
	}
	return heldMessage{}, false
}

// Issue 16 end to end: a member texts NIGHTS; contacts shows it on their
// record; a campaign launched at 10:00 their time leaves their text
// queued until 16:00 with the reason member_window in the message log and
// in the campaign's results, and it goes at 16:00 on the moved clock,
// while a member with no rhythm gets theirs at once. Then PAUSE holds the
// next campaign's text and RESUME lets it go.
func TestMemberRhythmEndToEnd(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	clock := testkit.NewClock(t)
	y, mo, d := clock.SetMidday(t, "America/New_York").In(ny).Date()
	ten, four := time.Date(y, mo, d, 10, 0, 0, 0, ny), time.Date(y, mo, d, 16, 0, 0, 0, ny)
	clock.Set(ten)
	st := startStackAt(t, clock)
	ctx := context.Background()

	night, day := "+12125550181", "+12125550182"
	var noor struct {
		ID string `json:"id"`
	}
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{
		"first_name": "Noor", "phone": night, "time_zone": "America/New_York", "tags": []string{"rally"},
	}, &noor); code != 201 {
		t.Fatalf("create Noor = %d", code)
	}
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{
		"first_name": "Dee", "phone": day, "time_zone": "America/New_York", "tags": []string{"rally"},
	}, nil); code != 201 {
		t.Fatalf("create Dee = %d", code)
	}
	text := func(from, body string) string {
		t.Helper()
		res, err := st.Sim.SendReply(ctx, sim.Reply{From: from, To: "+15550001111", Body: body})
		if err != nil || len(res.Replies) != 1 {
			t.Fatalf("%s = %+v, %v", body, res, err)
		}
		return res.Replies[0].Body
	}
	if reply := text(night, "NIGHTS"); !strings.Contains(reply, "16:00-21:00") {
		t.Fatalf("NIGHTS answered %q", reply)
	}
	testkit.Eventually(t, "NIGHTS on Noor's record in contacts", func() bool {
		var c struct {
			Rhythm struct {
				Window  string `json:"window"`
				History []struct {
					Change, Source string
				} `json:"history"`
			} `json:"rhythm"`
		}
		call(t, "contacts", "GET", st.ContactsURL+"/contacts/"+noor.ID, nil, &c)
		return c.Rhythm.Window == "16:00-21:00" && len(c.Rhythm.History) == 1 && c.Rhythm.History[0].Source == "inbound_sms"
	})

	first := createCampaign(t, st, "Rally", "Rally at the hospital Friday. Reply STOP to opt out.")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+first+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	var held heldMessage
	testkit.Eventually(t, "Noor's text held for her window", func() bool {
		m, ok := logOf(t, st, first, night)
		held = m
		return ok && m.DeferredUntil != nil
	})
	if held.Status != "queued" || !held.DeferredUntil.Equal(four) || held.DeferReason != "member_window" {
		t.Fatalf("Noor's text = %+v, want queued until %s for member_window", held, four)
	}
	testkit.Eventually(t, "Dee's text delivered at once", func() bool {
		m, _ := logOf(t, st, first, day)
		return m.Status == "delivered"
	})
	testkit.Eventually(t, "the results count the held text by reason", func() bool {
		var r struct {
			DeferredByReason map[string]int `json:"deferred_by_reason"`
		}
		call(t, "campaigns", "GET", st.CampaignsURL+"/campaigns/"+first+"/results", nil, &r)
		return r.DeferredByReason["member_window"] == 1
	})
	if n := len(outboxTo(st.Sim, night, "outbound-api")); n != 0 {
		t.Fatalf("Noor got %d texts before 16:00", n)
	}

	clock.Set(four)
	testkit.Eventually(t, "Noor's text delivered at 16:00", func() bool {
		m, _ := logOf(t, st, first, night)
		return m.Status == "delivered"
	})

	// PAUSE holds the next campaign's text; RESUME lets it go at once
	// (16:05 is inside her window).
	if reply := text(night, "PAUSE 7"); !strings.Contains(strings.ToLower(reply), "paused until") {
		t.Fatalf("PAUSE 7 answered %q", reply)
	}
	second := createCampaign(t, st, "Rally 2", "Bus leaves at 6. Reply STOP to opt out.")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+second+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch second = %d", code)
	}
	testkit.Eventually(t, "Noor's second text held by her pause", func() bool {
		m, ok := logOf(t, st, second, night)
		return ok && m.Status == "queued" && m.DeferReason == "pause"
	})
	if reply := text(night, "RESUME"); !strings.Contains(strings.ToLower(reply), "resumed") {
		t.Fatalf("RESUME answered %q", reply)
	}
	testkit.Eventually(t, "Noor's second text delivered after RESUME", func() bool {
		m, _ := logOf(t, st, second, night)
		return m.Status == "delivered"
	})
}

// The preferences page in a real browser: a member texts PREFS, opens the
// signed link from the reply on their phone, chooses 17:00-20:00 and
// saves; the next campaign's text, launched at 10:00 their time, waits
// for 17:00 with the reason member_window.
func TestPreferencesPageInTheBrowser(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	clock := testkit.NewClock(t)
	y, mo, d := clock.SetMidday(t, "America/New_York").In(ny).Date()
	clock.Set(time.Date(y, mo, d, 10, 0, 0, 0, ny))
	st := startStackAt(t, clock)
	ctx := context.Background()
	pat := "+12125550183"
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{
		"first_name": "Pat", "phone": pat, "time_zone": "America/New_York", "tags": []string{"rally"},
	}, nil); code != 201 {
		t.Fatalf("create Pat = %d", code)
	}
	res, err := st.Sim.SendReply(ctx, sim.Reply{From: pat, To: "+15550001111", Body: "PREFS"})
	if err != nil || len(res.Replies) != 1 {
		t.Fatalf("PREFS = %+v, %v", res, err)
	}
	link := regexp.MustCompile(`https?://\S+`).FindString(res.Replies[0].Body)
	if !strings.HasPrefix(link, st.DeliveryURL+"/prefs/") {
		t.Fatalf("PREFS answered %q, want a link to %s/prefs/", res.Replies[0].Body, st.DeliveryURL)
	}

	b := browserContext(t)
	var saved string
	err = chromedp.Run(b,
		chromedp.Navigate(link),
		chromedp.WaitVisible(`input[name="window"][value="own"]`, chromedp.ByQuery),
		chromedp.Click(`input[name="window"][value="own"]`, chromedp.ByQuery),
		chromedp.SetValue(`select[name="start"]`, "17:00", chromedp.ByQuery),
		chromedp.SetValue(`select[name="end"]`, "20:00", chromedp.ByQuery),
		chromedp.Click(`button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`p.done`, chromedp.ByQuery),
		chromedp.Text(`p.done`, &saved, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("driving the preferences page: %v", err)
	}
	if saved == "" {
		t.Fatal("the page did not say the choice was saved")
	}

	c := createCampaign(t, st, "Rally", "Rally at the hospital Friday. Reply STOP to opt out.")
	if code := call(t, "campaigns", "POST", st.CampaignsURL+"/campaigns/"+c+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	var held heldMessage
	testkit.Eventually(t, "Pat's text held for the hours chosen on the page", func() bool {
		m, ok := logOf(t, st, c, pat)
		held = m
		return ok && m.DeferredUntil != nil
	})
	if five := time.Date(y, mo, d, 17, 0, 0, 0, ny); held.Status != "queued" || !held.DeferredUntil.Equal(five) || held.DeferReason != "member_window" {
		t.Fatalf("Pat's text = %+v, want queued until %s for member_window", held, five)
	}
}
