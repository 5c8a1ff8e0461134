package template

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

const all = MemberFields | MeetingFields | PetitionFields

func TestRender(t *testing.T) {
	tpl, err := Parse("body", "Hi {{first_name|friend}}, rally at 5. {{ last_name }}! {{full_name}} at {{worksite|your site}}", MemberFields, Text)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		m    events.Member
		want string
	}{
		{events.Member{FirstName: "Ana", LastName: "Ruiz", Fields: map[string]string{"worksite": "North Clinic"}},
			"Hi Ana, rally at 5. Ruiz! Ana Ruiz at North Clinic"},
		{events.Member{FirstName: "  "}, "Hi friend, rally at 5. !  at your site"},
		{events.Member{LastName: "Bo"}, "Hi friend, rally at 5. Bo! Bo at your site"},
	}
	for _, c := range cases {
		if got := tpl.String(&c.m, &Values{}); got != c.want {
			t.Errorf("Render(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestCampaignValuesAndHTMLEscaping(t *testing.T) {
	var v Values
	v[MeetingTitle] = "Staffing & Safety"
	v[RSVPLink] = "https://x.test/rsvp/a?b=1&c=2"
	m := events.Member{FirstName: `<script>"x"</script>`}
	text, err := Parse("text", "{{first_name}}: {{meeting_title}} {{rsvp_link}}", all, Text)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := text.String(&m, &v), `<script>"x"</script>: Staffing & Safety https://x.test/rsvp/a?b=1&c=2`; got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	html, err := Parse("html", `<p>{{first_name}}: <a href="{{rsvp_link}}">{{meeting_title}}</a></p>`, all, HTML)
	if err != nil {
		t.Fatal(err)
	}
	want := `<p>&lt;script&gt;&#34;x&#34;&lt;/script&gt;: <a href="https://x.test/rsvp/a?b=1&amp;c=2">Staffing &amp; Safety</a></p>`
	if got := html.String(&m, &v); got != want {
		t.Errorf("html = %q, want %q", got, want)
	}
	if !html.Uses(RSVPLink) || html.Uses(SignLink) {
		t.Error("Uses does not report the fields the template uses")
	}
}

func TestParseRefusesBadTemplates(t *testing.T) {
	cases := map[string]string{
		"Hi {{frist_name}}":       "unknown merge field {{frist_name}}",
		"Hi {{first_name":         "never closed",
		"Hi first_name}}":         "stray",
		"Hi {{ {{first_name}}":    "never closed",
		"}} {{first_name}}":       "stray",
		"Sign: {{sign_link}}":     "cannot be used in this kind of campaign",
		"At {{meeting_time}}":     "cannot be used in this kind of campaign",
		"Bad \xff byte":           "UTF-8",
		"{{}} empty field":        "unknown merge field {{}}",
		"ok {{first_name}} {{x}}": "unknown merge field {{x}}",
	}
	for src, want := range cases {
		_, err := Parse("body", src, MemberFields, Text)
		if err == nil {
			t.Errorf("Parse(%q) accepted a bad template", src)
			continue
		}
		if apperr.FieldOf(err) != "body" || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want field body and %q", src, err, want)
		}
	}
	if _, err := Parse("body", "No fields at all.", MemberFields, Text); err != nil {
		t.Errorf("plain text refused: %v", err)
	}
	if _, err := Parse("body", "Sign: {{sign_link}}", MemberFields|PetitionFields, Text); err != nil {
		t.Errorf("petition field refused in a petition: %v", err)
	}
}

func TestRenderAllocatesNothingIntoABuffer(t *testing.T) {
	tpl, err := Parse("body", "Hi {{first_name|friend}}, {{meeting_title}} is {{meeting_time}}. RSVP: {{rsvp_link}}", all, Text)
	if err != nil {
		t.Fatal(err)
	}
	m := events.Member{FirstName: "Ana", LastName: "Ruiz"}
	var v Values
	v[MeetingTitle], v[MeetingTime], v[RSVPLink] = "GMM", "Thursday at 6", "https://x.test/r/abc"
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() { buf = tpl.Render(buf[:0], &m, &v) })
	if allocs != 0 {
		t.Errorf("Render allocated %.1f times per call, want 0", allocs)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Hi {{first_name|friend}}", "{{", "}}", "{{}}", "a{{last_name}}b{{full_name|x}}", "<{{meeting_title}}>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := Parse("body", src, all, HTML)
		if err != nil {
			return
		}
		var v Values
		v[MeetingTitle] = "<b>"
		out := tpl.String(&events.Member{FirstName: "A", LastName: "B"}, &v)
		if strings.Contains(out, "{{") && !strings.Contains(src, "{{") {
			t.Fatalf("render invented braces: %q -> %q", src, out)
		}
		if strings.Count(out, "<b>") > strings.Count(src, "<b>") {
			t.Fatalf("a value went into HTML unescaped: %q -> %q", src, out)
		}
	})
}

func TestOrganizerFirstName(t *testing.T) {
	v := &Values{}
	v[OrgName] = "Local 9"
	withDefault, err := Parse("body", "Hi {{first_name}}, it's {{organizer_first_name|the union}}.", MemberFields, Text)
	if err != nil {
		t.Fatal(err)
	}
	bare, err := Parse("body", "From {{organizer_first_name}}", MemberFields, Text)
	if err != nil {
		t.Fatal(err)
	}
	assigned := &events.Member{FirstName: "Ana", OrganizerFirstName: "Ben"}
	nobody := &events.Member{FirstName: "Cy"}
	for _, c := range []struct {
		t    *Template
		m    *events.Member
		want string
	}{
		{withDefault, assigned, "Hi Ana, it's Ben."},
		{withDefault, nobody, "Hi Cy, it's the union."},
		{bare, assigned, "From Ben"},
		{bare, nobody, "From Local 9"},
	} {
		if got := c.t.String(c.m, v); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
