package stack_test

import (
	"context"
	"fmt"
	"github.com/musterhq/muster/shared/testkit"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/musterhq/muster/services/devstack/stack"
	"github.com/musterhq/muster/services/simulator/sim"
)

// TestPollByReply is a caseload poll across the whole platform: three
// choices with Spanish labels and a follow-up to Unsafe, texted to 20
// members at two worksites. Replies by number ("2"), by word ("heavy",
// "Unsafe!") and in Spanish ("pesado") are counted, "what?" is the one
// reply in the inbox (with the question beside it), the follow-up goes to
// the Unsafe answer only and once, a changed answer moves the count with
// its history kept, the breakdown by worksite and the audited CSV say who
// answered what. An organizer then reads it all in a real Chromium at
// desktop and phone sizes, and composes a scale poll on the page.
func TestPollByReply(t *testing.T) {
	st := startConsoleStack(t, func(o *stack.Options) { o.AdminToken = true })
	api := publicAPI{t: t, base: st.ConsoleURL, token: st.AdminToken}
	base := st.ConsoleURL
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("outbox: %+v", st.Sim.Outbox())
		}
	})

	const members = 20
	phones, ids := make([]string, members), make([]string, members)
	for i := range members {
		phones[i] = fmt.Sprintf("+1212555%04d", 3100+i)
		site := []string{"North Clinic", "South Clinic"}[i%2]
		var c struct{ ID string }
		if code, raw := api.json("POST", "/api/contacts", map[string]any{
			"first_name": fmt.Sprintf("Nurse%02d", i), "last_name": "Member", "phone": phones[i], "tags": []string{"caseload"},
			"attributes": map[string]string{"worksite": site},
		}, &c); code != 201 {
			t.Fatalf("create member %d = %d %s", i, code, raw)
		}
		ids[i] = c.ID
	}
	var poll struct{ ID string }
	if code, raw := api.json("POST", "/api/campaigns", map[string]any{
		"name": "Caseload check", "kind": "poll", "channel": "sms",
		"body":     "Local 1199: how is your caseload this week? Reply 1 Manageable, 2 Heavy, 3 Unsafe. Reply STOP to opt out.",
		"audience": map[string]string{"tag": "caseload"},
		"poll": map[string]any{
			"question": "How is your caseload this week?", "choices": []string{"Manageable", "Heavy", "Unsafe"},
			"choices_es": []string{"Manejable", "Pesado", "Peligroso"},
			"follow_ups": map[string]string{"Unsafe": "Thank you. Can a steward call you? Reply YES"},
		},
	}, &poll); code != 201 {
		t.Fatalf("create poll = %d %s", code, raw)
	}
	if code, raw := api.json("POST", "/api/campaigns/"+poll.ID+"/launch", map[string]any{}, nil); code != 202 && code != 200 {
		t.Fatalf("launch = %d %s", code, raw)
	}
	texts := func(i int, prefix string) int {
		n := 0
		for _, m := range outboxTo(st.Sim, phones[i], "outbound-api") {
			if strings.HasPrefix(m.Body, prefix) {
				n++
			}
		}
		return n
	}
	testkit.Eventually(t, "the poll to all 20", func() bool {
		for i := range members {
			if texts(i, "Local 1199: how is your caseload") != 1 {
				return false
			}
		}
		return true
	})
	reply := func(i int, body string) {
		t.Helper()
		if _, err := st.Sim.SendReply(context.Background(), sim.Reply{From: phones[i], To: "+15550001111", Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	// North is 0, 2, 4...; South 1, 3, 5...
	for i, body := range []string{"2", "heavy", "Unsafe!", "pesado", "what?"} {
		reply(i, body)
	}
	type pollDoc struct {
		Poll struct {
			Counts   map[string]int `json:"counts"`
			Answered int            `json:"answered"`
			NoAnswer int            `json:"no_answer"`
		} `json:"poll"`
		Groups []struct {
			Value    string         `json:"value"`
			Counts   map[string]int `json:"counts"`
			NoAnswer int            `json:"no_answer"`
		} `json:"groups"`
	}
	var res pollDoc
	testkit.Eventually(t, "four answers counted", func() bool {
		api.json("GET", "/api/campaigns/"+poll.ID+"/results", nil, &res)
		return res.Poll.Answered == 4
	})
	if want := map[string]int{"Manageable": 0, "Heavy": 3, "Unsafe": 1}; !reflect.DeepEqual(res.Poll.Counts, want) || res.Poll.NoAnswer != 16 {
		t.Fatalf("results poll = %+v, want %v and 16 without an answer", res.Poll, want)
	}
	var by pollDoc
	if code, raw := api.json("GET", "/api/campaigns/"+poll.ID+"/poll?by=worksite", nil, &by); code != 200 {
		t.Fatalf("poll by worksite = %d %s", code, raw)
	}
	if len(by.Groups) != 2 || by.Groups[0].Value != "North Clinic" || by.Groups[1].Value != "South Clinic" ||
		!reflect.DeepEqual(by.Groups[0].Counts, map[string]int{"Manageable": 0, "Heavy": 1, "Unsafe": 1}) || by.Groups[0].NoAnswer != 8 ||
		!reflect.DeepEqual(by.Groups[1].Counts, map[string]int{"Manageable": 0, "Heavy": 2, "Unsafe": 0}) || by.Groups[1].NoAnswer != 8 {
		t.Fatalf("by worksite = %+v", by.Groups)
	}
	// One reply for a person: "what?", with the question beside it.
	var inbox struct {
		Items []struct {
			Body       string `json:"body"`
			Note       string `json:"note"`
			CampaignID string `json:"campaign_id"`
		} `json:"items"`
	}
	testkit.Eventually(t, "what? in the inbox", func() bool {
		api.json("GET", "/api/inbox?status=all&campaign_id="+poll.ID, nil, &inbox)
		return len(inbox.Items) > 0
	})
	if len(inbox.Items) != 1 || inbox.Items[0].Body != "what?" || !strings.Contains(inbox.Items[0].Note, "How is your caseload this week?") {
		t.Fatalf("inbox = %+v, want what? alone, with the question", inbox.Items)
	}
	// The follow-up: to the Unsafe answer only, and once, however the
	// member repeats it.
	const follow = "Thank you. Can a steward call you? Reply YES"
	testkit.Eventually(t, "the follow-up to Unsafe", func() bool { return texts(2, follow) == 1 })
	reply(2, "unsafe")
	reply(2, "YES")
	var answers struct {
		Answers []struct {
			ContactID     string  `json:"contact_id"`
			Answer        string  `json:"answer"`
			FollowUpYesAt *string `json:"follow_up_yes_at"`
		} `json:"answers"`
	}
	testkit.Eventually(t, "the YES to the follow-up", func() bool {
		api.json("GET", "/api/campaigns/"+poll.ID+"/poll-answers?answer=Unsafe", nil, &answers)
		return len(answers.Answers) == 1 && answers.Answers[0].FollowUpYesAt != nil
	})
	if answers.Answers[0].ContactID != ids[2] {
		t.Fatalf("Unsafe = %+v, want member 2", answers.Answers)
	}
	for i := range members {
		if n, want := texts(i, follow), map[bool]int{true: 1}[i == 2]; n != want {
			t.Errorf("member %d got %d follow-ups, want %d", i, n, want)
		}
	}
	// A changed answer moves the count; both answers are in the history.
	reply(3, "1")
	testkit.Eventually(t, "the changed answer", func() bool {
		api.json("GET", "/api/campaigns/"+poll.ID+"/results", nil, &res)
		return res.Poll.Counts["Manageable"] == 1
	})
	if res.Poll.Counts["Heavy"] != 2 || res.Poll.Answered != 4 {
		t.Fatalf("after the change: %+v", res.Poll)
	}
	var hist struct {
		Answers []struct {
			Answer, Previous, Body string
		} `json:"answers"`
	}
	if code, raw := api.json("GET", "/api/contacts/"+ids[3]+"/poll-answers", nil, &hist); code != 200 || len(hist.Answers) != 2 ||
		hist.Answers[0].Answer != "Manageable" || hist.Answers[0].Previous != "Heavy" || hist.Answers[1].Body != "pesado" {
		t.Fatalf("member 3's history = %d %+v %s", code, hist.Answers, raw)
	}
	code, csv := api.do("GET", "/api/campaigns/"+poll.ID+"/poll-answers.csv", "", "", nil)
	if code != 200 || strings.Count(csv, "\n") != members+1 || !strings.Contains(csv, ids[2]+",Nurse02,Member,Unsafe,Unsafe!,sms") {
		t.Fatalf("csv = %d:\n%s", code, csv)
	}

	// The organizer reads it.
	ctx := browserContext(t)
	signIn(t, ctx, base, consoleAdmin, consolePassword)
	for _, size := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if size.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		run(t, ctx, "sizing the window for a "+size.name, chromedp.EmulateViewport(size.width, size.height, opts...))
		run(t, ctx, "opening the poll", chromedp.Navigate(base+"/campaigns/"+poll.ID), chromedp.WaitVisible("#poll-counts", chromedp.ByQuery))
		counts := waitText(t, ctx, "#poll-counts", "Manageable")
		for _, s := range []string{"1. Manageable", "2. Heavy", "3. Unsafe", "No answer yet"} {
			if !strings.Contains(counts, s) {
				t.Errorf("counts = %q, want %q", counts, s)
			}
		}
		waitText(t, ctx, "#poll-none", "16")
		waitText(t, ctx, "#poll-question", "How is your caseload this week?")
		var bars int
		run(t, ctx, "counting the bars", chromedp.Evaluate(`document.querySelectorAll("#poll-counts progress").length`, &bars))
		if bars != 4 {
			t.Errorf("%d bars, want 4", bars)
		}
		who := waitText(t, ctx, "#poll-answers", "Nurse02 Member")
		if !strings.Contains(who, "Unsafe") || !strings.Contains(who, "said YES to the follow-up") || strings.Contains(who, "Nurse04") {
			t.Errorf("who answered = %q", who)
		}
		waitText(t, ctx, "#poll-no-answer", "Nurse04 Member")
		var csvHref string
		run(t, ctx, "reading the CSV link", chromedp.AttributeValue("#poll-csv", "href", &csvHref, nil, chromedp.ByQuery))
		if csvHref != "/api/campaigns/"+poll.ID+"/poll-answers.csv" {
			t.Errorf("CSV link = %q", csvHref)
		}
		// Broken down by worksite, picked on the page.
		run(t, ctx, "picking worksite",
			chromedp.SetValue("#poll-by", "worksite", chromedp.ByQuery),
			chromedp.Submit("#poll-by", chromedp.ByQuery),
			chromedp.WaitVisible("#poll-breakdown", chromedp.ByQuery))
		table := waitText(t, ctx, "#poll-breakdown", "North Clinic")
		if !strings.Contains(table, "South Clinic") {
			t.Errorf("breakdown = %q", table)
		}
		if !size.mobile {
			// The crawl of every page checks one campaign page; this one
			// is checked too, counts, bars and breakdown shown.
			axe, err := os.ReadFile("testdata/axe/axe.min.js")
			if err != nil {
				t.Fatal(err)
			}
			if v := axeViolations(t, ctx, string(axe)); len(v) > 0 {
				t.Errorf("the poll's page: accessibility violations:\n  %s", strings.Join(v, "\n  "))
			}
		}
		var wide bool
		run(t, ctx, "measuring the poll's page", chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth`, &wide))
		if wide {
			t.Errorf("the poll's page scrolls sideways on a %s", size.name)
		}
	}
	// The counts move live: a new answer shows without a reload.
	run(t, ctx, "back to a desktop", chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/campaigns/"+poll.ID), chromedp.WaitVisible("#poll-counts", chromedp.ByQuery))
	reply(5, "3")
	waitText(t, ctx, "#poll-none", "15")
	// The reply that was no answer, in the inbox with the question.
	run(t, ctx, "opening what? in the inbox", chromedp.Navigate(base+"/inbox?c=c:"+ids[4]), chromedp.WaitVisible("#thread-turns", chromedp.ByQuery))
	turn := waitText(t, ctx, "#thread-turns", "what?")
	if !strings.Contains(turn, "answering Caseload check") || !strings.Contains(turn, "not an answer to the poll “How is your caseload this week?”") {
		t.Errorf("the thread = %q, want the poll and its question beside the reply", turn)
	}

	// The member's page keeps their answers and what each replaced.
	run(t, ctx, "opening member 3's page", chromedp.Navigate(base+"/contacts/"+ids[3]), chromedp.WaitVisible("#member-polls", chromedp.ByQuery))
	mine := waitText(t, ctx, "#member-polls", "Caseload check: Manageable")
	if !strings.Contains(mine, "was Heavy") || !strings.Contains(mine, "(“pesado”)") {
		t.Errorf("member 3's poll answers = %q", mine)
	}

	// Composing a poll on the page: picking the kind shows its fields;
	// a scale of 5 goes to the review.
	run(t, ctx, "composing a scale poll",
		chromedp.Navigate(base+"/campaigns/new"),
		chromedp.WaitVisible("#name", chromedp.ByQuery),
		chromedp.SendKeys("#name", "Morale check", chromedp.ByQuery),
		chromedp.SetValue("#kind", "poll", chromedp.ByQuery),
		chromedp.Evaluate(`document.getElementById("kind").dispatchEvent(new Event("change"))`, nil),
		chromedp.WaitVisible("#poll_question", chromedp.ByQuery),
		chromedp.SendKeys("#poll_question", "How is morale, 1 to 5?", chromedp.ByQuery),
		chromedp.SendKeys("#poll_scale", "5", chromedp.ByQuery),
		chromedp.SendKeys("#poll_follow_ups", "1: Sorry to hear it. Can a steward call you? Reply YES", chromedp.ByQuery),
		chromedp.SendKeys("#aud_value_0", "caseload", chromedp.ByQuery),
		chromedp.SendKeys("#body", "Local 1199: how is morale, 1 (low) to 5 (high)? Reply STOP to opt out.", chromedp.ByQuery),
		chromedp.Submit("#body", chromedp.ByQuery),
		chromedp.WaitVisible("#editor", chromedp.ByQuery))
	// The editor shows the saved poll, and saves it as it was.
	var question, scale, followUps string
	run(t, ctx, "reading the poll in the editor",
		chromedp.WaitVisible("#poll_question", chromedp.ByQuery),
		chromedp.Value("#poll_question", &question, chromedp.ByQuery),
		chromedp.Value("#poll_scale", &scale, chromedp.ByQuery),
		chromedp.Value("#poll_follow_ups", &followUps, chromedp.ByQuery))
	if question != "How is morale, 1 to 5?" || scale != "5" || followUps != "1: Sorry to hear it. Can a steward call you? Reply YES" {
		t.Errorf("the editor shows %q, scale %q, follow-ups %q", question, scale, followUps)
	}
	run(t, ctx, "reviewing the scale poll", chromedp.Click("#review", chromedp.ByQuery), chromedp.WaitVisible("#confirm-summary", chromedp.ByQuery))
	waitText(t, ctx, "#confirm-summary", "20 people tagged caseload will get this poll by text")
	run(t, ctx, "launching the scale poll", chromedp.Click("#launch", chromedp.ByQuery), chromedp.WaitVisible("#poll-counts", chromedp.ByQuery))
	// The page reloads itself when the campaign's status moves on
	// (sending, then sent), so the rows are read until a whole page shows.
	want := []string{"1", "2", "3", "4", "5", "No answer yet"}
	var rows []string
	for deadline := time.Now().Add(20 * time.Second); ; {
		run(t, ctx, "reading the scale's rows", chromedp.Evaluate(`[...document.querySelectorAll("#poll-counts tbody th")].map(e => e.textContent.trim())`, &rows))
		if reflect.DeepEqual(rows, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scale's rows = %q, want %q", rows, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if shots := os.Getenv("MUSTER_SCREENSHOTS"); shots != "" {
		run(t, ctx, "opening the poll by worksite", chromedp.Navigate(base+"/campaigns/"+poll.ID+"?by=worksite"),
			chromedp.WaitVisible("#poll-breakdown", chromedp.ByQuery))
		shoot(t, ctx, shots, "poll")
	}
}
