package app_test

import (
	"html"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// signedIn is an admin's browser.
func signedIn(t *testing.T, c *console) *browser {
	t.Helper()
	b := newBrowser(t, c.URL())
	if code, _ := b.signIn(adminEmail, adminPassword); code != http.StatusSeeOther {
		t.Fatal("sign in failed")
	}
	return b
}

// asJSON round-trips v so it compares with what the stand-in decoded.
func asJSON(v any) any {
	var out any
	raw, _ := jsonMarshal(v)
	_ = jsonUnmarshal(raw, &out)
	return out
}

func TestComposeMeetingSendsCampaignsAMeetingDraft(t *testing.T) {
	c := startConsole(t, 100)
	b := signedIn(t, c)
	day := c.clock.Now().AddDate(0, 0, 10).Format("2006-01-02")
	resp, page := b.do("POST", "/campaigns/new", url.Values{
		"csrf": {b.csrf}, "name": {"Tuesday meeting"}, "kind": {"meeting"}, "channel": {"both"}, "tag": {"Rally"},
		"body":    {"Hi {{first_name}}, meet Tuesday."},
		"subject": {"Meet Tuesday"}, "email_text": {"Come along."}, "email_html": {""},
		"starts_at": {day + "T18:30"}, "time_zone": {"America/Chicago"}, "place": {"Union Hall"},
		"reminders": {"24h, 90m"},
	}, nil)
	// Every kind goes on to the editor, with its preview and test send.
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/c2/edit" {
		t.Fatalf("compose = %d to %q, want a redirect to the editor:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	got := c.creates()
	if len(got) != 1 {
		t.Fatalf("creates = %v, want one", got)
	}
	chicago, _ := time.LoadLocation("America/Chicago")
	start, _ := time.ParseInLocation("2006-01-02T15:04", day+"T18:30", chicago)
	want := asJSON(map[string]any{
		"name": "Tuesday meeting", "kind": "meeting", "channel": "both",
		"audience": map[string]any{"tag": "Rally"},
		"body":     "Hi {{first_name}}, meet Tuesday.",
		"email":    map[string]any{"subject": "Meet Tuesday", "text": "Come along."},
		"meeting": map[string]any{
			"starts_at": start.Format(time.RFC3339), "time_zone": "America/Chicago", "place": "Union Hall",
			"reminders": []string{"-24h0m0s", "-1h30m0s"},
		},
	})
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("campaigns got\n%v\nwant\n%v", got[0], want)
	}

	// The review says who gets what on which channel, and when.
	resp, page = b.do("GET", "/campaigns/c2/launch", nil, nil)
	page = html.UnescapeString(page)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("review = %d:\n%s", resp.StatusCode, page)
	}
	text := strings.Join(strings.Fields(stripTags(page)), " ")
	for _, s := range []string{
		"3 people tagged Rally will get this invitation by text and 2 will get this invitation by email now",
		"The meeting is " + start.Format("Mon 2 Jan 2006 15:04 MST") + " at Union Hall",
		"Reminders go out " + start.Add(-24*time.Hour).Format("Mon 2 Jan 2006 15:04 MST") + " (24h before), " +
			start.Add(-90*time.Minute).Format("Mon 2 Jan 2006 15:04 MST") + " (1h30m before)",
		"Hi Alex, meet Tuesday", "Subject: Meet Tuesday, Alex", "Dear Alex, come along.",
		"Send now to 3",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("review does not say %q:\n%s", s, text)
		}
	}
}

func TestComposePetitionSendsCampaignsAPetitionDraft(t *testing.T) {
	c := startConsole(t, 100)
	b := signedIn(t, c)
	resp, page := b.do("POST", "/campaigns/new", url.Values{
		"csrf": {b.csrf}, "name": {"Fund the clinic"}, "kind": {"petition"}, "channel": {"sms"}, "tag": {"clinic"},
		"body":    {"Reply {{sign_keyword}} to sign: fund the clinic."},
		"keyword": {"sign"}, "goal": {"500"}, "call_number": {"+12125550100"}, "call_script": {"Fund the clinic."},
		// Fields of other kinds and channels are left out.
		"subject": {"ignored"}, "starts_at": {"2030-01-01T10:00"},
	}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/c2/edit" {
		t.Fatalf("compose = %d to %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	want := asJSON(map[string]any{
		"name": "Fund the clinic", "kind": "petition", "channel": "sms",
		"audience": map[string]any{"tag": "clinic"},
		"body":     "Reply {{sign_keyword}} to sign: fund the clinic.",
		"petition": map[string]any{"keyword": "SIGN", "goal": 500, "call": map[string]any{"number": "+12125550100", "script": "Fund the clinic."}},
	})
	if got := c.creates(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("campaigns got %v, want %v", got, want)
	}
}

func TestComposeAlertStillGoesToTheEditor(t *testing.T) {
	c := startConsole(t, 100)
	b := signedIn(t, c)
	resp, _ := b.do("POST", "/campaigns/new", url.Values{"csrf": {b.csrf}, "name": {"Rally"}, "tag": {"rally"}, "body": {"Rally at 5."}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/c2/edit" {
		t.Fatalf("compose = %d to %q, want the editor", resp.StatusCode, resp.Header.Get("Location"))
	}
	want := asJSON(map[string]any{"name": "Rally", "kind": "alert", "channel": "sms", "audience": map[string]any{"tag": "rally"}, "body": "Rally at 5."})
	if got := c.creates(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("campaigns got %v, want %v", got, want)
	}
}

func TestComposeBadInputIsShownAndSendsNothing(t *testing.T) {
	c := startConsole(t, 100)
	b := signedIn(t, c)
	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"meeting without a time":  {url.Values{"kind": {"meeting"}, "channel": {"sms"}, "body": {"Meet us"}, "time_zone": {"America/Chicago"}, "place": {"Hall"}}, "a meeting needs a date and time"},
		"email without a subject": {url.Values{"kind": {"alert"}, "channel": {"email"}, "email_text": {"Hello"}}, "an email needs a subject"},
		"both without a subject":  {url.Values{"kind": {"alert"}, "channel": {"both"}, "body": {"Hi"}, "email_text": {"Hello"}}, "an email needs a subject"},
		"bad reminders":           {url.Values{"kind": {"meeting"}, "channel": {"sms"}, "body": {"Meet"}, "starts_at": {"2030-01-01T10:00"}, "time_zone": {"UTC"}, "place": {"Hall"}, "reminders": {"tomorrow"}}, "is not a time before the meeting"},
	} {
		tc.form.Set("csrf", b.csrf)
		tc.form.Set("name", "Bad "+name)
		tc.form.Set("tag", "rally")
		resp, page := b.do("POST", "/campaigns/new", tc.form, nil)
		page = html.UnescapeString(page)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="compose-error"`) || !strings.Contains(page, tc.want) {
			t.Errorf("%s = %d, want 400 saying %q:\n%s", name, resp.StatusCode, tc.want, page)
		}
		// The page keeps what was typed.
		if !strings.Contains(page, `value="Bad `+name+`"`) {
			t.Errorf("%s: the form lost its name", name)
		}
	}
	if got := c.creates(); len(got) != 0 {
		t.Fatalf("bad input sent %v to campaigns", got)
	}
}
