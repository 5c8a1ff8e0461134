package testkit

import (
	"strings"
	"testing"
)

func TestAlertCheckWantsTheMembersOwnName(t *testing.T) {
	a := Alert()
	render := func(name string) (string, string, string) {
		r := strings.NewReplacer("{{first_name}}", name)
		return r.Replace(a.Subject), r.Replace(a.Text), r.Replace(a.HTML)
	}
	if s, txt, html := render(FirstName(7)); a.Check(MemberEmail(7), s, txt, html) != nil {
		t.Errorf("member 7's own alert refused: %v", a.Check(MemberEmail(7), s, txt, html))
	}
	if s, txt, html := render(FirstName(8)); a.Check(MemberEmail(7), s, txt, html) == nil {
		t.Error("member 8's alert accepted for member 7")
	}
	if s, txt, html := render(FirstName(7)); a.Check("someone@example.org", s, txt, html) == nil {
		t.Error("an address that is no member's accepted")
	}
	if len(a.HTML) < 12_000 || len(a.Text) < 3_000 {
		t.Errorf("alert of %d bytes HTML and %d text, want 12 KB and 3 KB", len(a.HTML), len(a.Text))
	}
}
