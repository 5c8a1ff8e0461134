// Package template renders one message per member from an organizer's
// text. The language is deliberately tiny: {{field}} and {{field|default}}.
// Every field is checked when the campaign is saved, so a typo is refused
// before anything is sent rather than texted to eight thousand people.
package template

import (
	"fmt"
	"sort"
	"strings"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Fields are the merge fields a template may use.
var Fields = map[string]func(events.Member) string{
	"first_name": func(m events.Member) string { return m.FirstName },
	"last_name":  func(m events.Member) string { return m.LastName },
	"full_name":  func(m events.Member) string { return strings.TrimSpace(m.FirstName + " " + m.LastName) },
}

// Template is a parsed message text.
type Template struct {
	parts []part
}

type part struct {
	text  string // literal text, when field is ""
	field string
	def   string
}

// Parse checks a template. field names the input the error is reported
// against (for example "body"), so the organizer knows where to look.
func Parse(field, src string) (*Template, error) {
	var t Template
	rest := src
	for {
		open := strings.Index(rest, "{{")
		close := strings.Index(rest, "}}")
		if open < 0 {
			if close >= 0 {
				return nil, apperr.Invalid(field, "stray \"}}\" at character %d", len(src)-len(rest)+close+1)
			}
			if rest != "" {
				t.parts = append(t.parts, part{text: rest})
			}
			return &t, nil
		}
		if close >= 0 && close < open {
			return nil, apperr.Invalid(field, "stray \"}}\" at character %d", len(src)-len(rest)+close+1)
		}
		if open > 0 {
			t.parts = append(t.parts, part{text: rest[:open]})
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			return nil, apperr.Invalid(field, "\"{{\" at character %d is never closed", len(src)-len(rest)+open+1)
		}
		inner := rest[open+2 : open+2+end]
		if strings.Contains(inner, "{{") {
			return nil, apperr.Invalid(field, "\"{{\" at character %d is never closed", len(src)-len(rest)+open+1)
		}
		name, def, _ := strings.Cut(inner, "|")
		name = strings.TrimSpace(name)
		if _, ok := Fields[name]; !ok {
			return nil, apperr.Invalid(field, "unknown merge field {{%s}}; known fields: %s", name, strings.Join(known(), ", "))
		}
		t.parts = append(t.parts, part{field: name, def: strings.TrimSpace(def)})
		rest = rest[open+2+end+2:]
	}
}

// Render fills the template for one member; an empty field takes its
// default.
func (t *Template) Render(m events.Member) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.field == "" {
			b.WriteString(p.text)
			continue
		}
		v := strings.TrimSpace(Fields[p.field](m))
		if v == "" {
			v = p.def
		}
		b.WriteString(v)
	}
	return b.String()
}

func known() []string {
	names := make([]string, 0, len(Fields))
	for n := range Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// String shows the template's fields, for debugging.
func (t *Template) String() string {
	return fmt.Sprintf("template(%d parts)", len(t.parts))
}
