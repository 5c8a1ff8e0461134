package app_test

import (
	"html"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestComposePollSendsCampaignsAPollDraft: the compose form's poll part
// (choices one per line, Spanish labels, a follow-up as "Choice: text")
// becomes campaigns' poll; bad input is shown on the form and loses
// nothing.
func TestComposePollSendsCampaignsAPollDraft(t *testing.T) {
	c := startConsole(t, 100)
	b := signedIn(t, c)
	resp, page := b.do("POST", "/campaigns/new", url.Values{
		"csrf": {b.csrf}, "name": {"Caseload"}, "kind": {"poll"}, "channel": {"sms"}, "tag": {"nurses"},
		"body":          {"How is your caseload? Reply 1 Manageable, 2 Heavy, 3 Unsafe"},
		"poll_question": {"How is your caseload?"}, "poll_choices": {"Manageable\r\nHeavy\r\n\r\nUnsafe\r\n"},
		"poll_choices_es": {"Manejable\nPesado\nPeligroso"}, "poll_follow_ups": {"Unsafe: Thank you. Can a steward call you? Reply YES"},
	}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/campaigns/c2/edit" {
		t.Fatalf("compose = %d to %q:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	want := asJSON(map[string]any{
		"name": "Caseload", "kind": "poll", "channel": "sms", "audience": map[string]any{"tag": "nurses"},
		"body": "How is your caseload? Reply 1 Manageable, 2 Heavy, 3 Unsafe",
		"poll": map[string]any{"question": "How is your caseload?", "choices": []string{"Manageable", "Heavy", "Unsafe"},
			"choices_es": []string{"Manejable", "Pesado", "Peligroso"},
			"follow_ups": map[string]string{"Unsafe": "Thank you. Can a steward call you? Reply YES"}},
	})
	if got := c.creates(); len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("campaigns got %v, want %v", got, want)
	}

	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"no question":       {url.Values{"poll_choices": {"A\nB"}}, "a poll needs its question"},
		"one choice":        {url.Values{"poll_question": {"Q?"}, "poll_choices": {"A"}}, "give at least two choices"},
		"choices and scale": {url.Values{"poll_question": {"Q?"}, "poll_choices": {"A\nB"}, "poll_scale": {"5"}}, "choices or a scale, not both"},
		"bad scale":         {url.Values{"poll_question": {"Q?"}, "poll_scale": {"99"}}, "is not a scale from 2 to 10"},
		"spanish count":     {url.Values{"poll_question": {"Q?"}, "poll_choices": {"A\nB"}, "poll_choices_es": {"X"}}, "one Spanish label per choice"},
		"bad follow-up":     {url.Values{"poll_question": {"Q?"}, "poll_choices": {"A\nB"}, "poll_follow_ups": {"call me"}}, "Choice: text"},
	} {
		tc.form.Set("csrf", b.csrf)
		tc.form.Set("name", "Bad "+name)
		tc.form.Set("kind", "poll")
		tc.form.Set("tag", "rally")
		tc.form.Set("body", "Q? Reply 1 or 2")
		resp, page := b.do("POST", "/campaigns/new", tc.form, nil)
		page = html.UnescapeString(page)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, `id="compose-error"`) || !strings.Contains(page, tc.want) {
			t.Errorf("%s: %d, want the error %q on the form", name, resp.StatusCode, tc.want)
		}
		if !strings.Contains(page, "Q? Reply 1 or 2") || (tc.form.Get("poll_question") != "" && !strings.Contains(page, `value="`+tc.form.Get("poll_question")+`"`)) {
			t.Errorf("%s: the form lost what was typed", name)
		}
	}
	if n := len(c.creates()); n != 1 {
		t.Fatalf("%d creates, want only the good one", n)
	}
}
