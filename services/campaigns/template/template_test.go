package template

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

func TestRender(t *testing.T) {
	tpl, err := Parse("body", "Hi {{first_name|friend}}, rally at 5. {{ last_name }}!")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		m    events.Member
		want string
	}{
		{events.Member{FirstName: "Ana", LastName: "Ruiz"}, "Hi Ana, rally at 5. Ruiz!"},
		{events.Member{FirstName: "  "}, "Hi friend, rally at 5. !"},
	}
	for _, c := range cases {
		if got := tpl.Render(c.m); got != c.want {
			t.Errorf("Render(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestParseRefusesBadTemplates(t *testing.T) {
	cases := map[string]string{
		"Hi {{frist_name}}":    "unknown merge field {{frist_name}}",
		"Hi {{first_name":      "never closed",
		"Hi first_name}}":      "stray",
		"Hi {{ {{first_name}}": "never closed",
		"}} {{first_name}}":    "stray",
	}
	for src, want := range cases {
		_, err := Parse("body", src)
		if err == nil {
			t.Errorf("Parse(%q) accepted a bad template", src)
			continue
		}
		if apperr.FieldOf(err) != "body" || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want field body and %q", src, err, want)
		}
	}
	if _, err := Parse("body", "No fields at all."); err != nil {
		t.Errorf("plain text refused: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Hi {{first_name|friend}}", "{{", "}}", "{{}}", "a{{last_name}}b{{full_name|x}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Parse("body", src)
		if err != nil {
			return
		}
		out := tpl.Render(events.Member{FirstName: "A", LastName: "B"})
		if strings.Contains(out, "{{") && !strings.Contains(src, "{{") {
			t.Fatalf("render invented braces: %q -> %q", src, out)
		}
	})
}
