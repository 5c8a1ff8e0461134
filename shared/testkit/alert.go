package testkit

import (
	"fmt"
	"strings"
)

// MemberEmail is member i's email address in the benchmarks; its member
// is named FirstName(i).
func MemberEmail(i int) string { return fmt.Sprintf("member%d@local1199.org", i) }

// AlertEmail is an alert of real size for the email benchmarks: 12 KB of
// styled HTML and a 3 KB text part, greeting the member by first name in
// the subject and in both parts.
type AlertEmail struct {
	Subject, Text, HTML string
}

// Alert is the benchmarks' alert, with {{first_name}} tags unrendered.
func Alert() AlertEmail {
	return AlertEmail{
		Subject: "{{first_name}}, the contract vote is Thursday",
		Text:    "Hi {{first_name}},\n\n" + strings.Repeat("Our contract expires Friday. Come to the union hall Thursday at 5pm and vote. ", 40),
		HTML: `<div style="font-family:Arial,sans-serif;font-size:16px;color:#222"><p>Hi {{first_name}},</p>` +
			strings.Repeat("<p>Our contract expires Friday. Management wants to cut night-shift differentials and raise caseloads again. Come to the union hall Thursday at 5pm and vote.</p>", 75) + "</div>",
	}
}

// Draft is the campaigns API's draft of an email campaign sending the
// alert to everyone tagged tag.
func (a AlertEmail) Draft(name, tag string) map[string]any {
	return map[string]any{
		"name": name, "channel": "email", "audience": map[string]string{"tag": tag},
		"email": map[string]string{"subject": a.Subject, "text": a.Text, "html": a.HTML},
	}
}

// Check says what is wrong with the alert as the member at address to
// (a MemberEmail) received it: each of subject, text and HTML must
// greet them by their own first name.
func (a AlertEmail) Check(to, subject, text, html string) error {
	var i int
	if _, err := fmt.Sscanf(to, "member%d@local1199.org", &i); err != nil {
		return fmt.Errorf("%q is no member's address: %w", to, err)
	}
	name := FirstName(i)
	if !strings.HasPrefix(subject, name+",") || !strings.Contains(text, "Hi "+name+",") || !strings.Contains(html, "Hi "+name+",") {
		return fmt.Errorf("%s did not get their own email: %q", to, subject)
	}
	return nil
}
