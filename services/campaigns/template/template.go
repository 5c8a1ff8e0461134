// Package template renders one message per member from an organizer's
// text. The language is deliberately tiny: {{field}} and {{field|default}}.
// Every field is checked when the campaign is saved, so a typo is refused
// before anything is sent rather than texted to eight thousand people;
// fields that only make sense for one kind of campaign ({{sign_link}} in a
// meeting) are refused the same way.
//
// Rendering appends to a caller's buffer and allocates nothing, because the
// fan-out renders a hundred thousand messages a campaign.
package template

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Field is one merge field.
type Field uint8

// The merge fields. Member fields come from the member; the others are the
// campaign's (Values) and are set once per step, or per member for links.
const (
	none Field = iota
	FirstName
	LastName
	FullName
	Worksite
	Employer
	Role
	Shift
	OrgName
	MeetingTitle
	MeetingTime
	MeetingPlace
	MeetingLink
	RSVPLink
	SignLink
	SignKeyword
	CallNumber
	CallScript
	OrganizerFirstName
	numFields
)

var names = [numFields]string{
	FirstName: "first_name", LastName: "last_name", FullName: "full_name",
	Worksite: "worksite", Employer: "employer", Role: "role", Shift: "shift",
	OrgName: "org_name", MeetingTitle: "meeting_title", MeetingTime: "meeting_time",
	MeetingPlace: "meeting_place", MeetingLink: "meeting_link", RSVPLink: "rsvp_link",
	SignLink: "sign_link", SignKeyword: "sign_keyword", CallNumber: "call_number", CallScript: "call_script",
	OrganizerFirstName: "organizer_first_name",
}

// String is the field's name as written in a template.
func (f Field) String() string {
	if f > none && f < numFields {
		return names[f]
	}
	return fmt.Sprintf("field(%d)", f)
}

// Lookup finds a field by name.
func Lookup(name string) (Field, bool) {
	for f := FirstName; f < numFields; f++ {
		if names[f] == name {
			return f, true
		}
	}
	return none, false
}

// Set is a set of fields: those a campaign may use, or those a template
// uses.
type Set uint32

// Of makes a set.
func Of(fields ...Field) Set {
	var s Set
	for _, f := range fields {
		s |= 1 << f
	}
	return s
}

// Has reports whether f is in the set.
func (s Set) Has(f Field) bool { return s&(1<<f) != 0 }

// The fields each kind of campaign may use: member fields everywhere,
// meeting and petition fields only where they mean something.
const (
	MemberFields   Set = 1<<FirstName | 1<<LastName | 1<<FullName | 1<<Worksite | 1<<Employer | 1<<Role | 1<<Shift | 1<<OrgName | 1<<OrganizerFirstName
	MeetingFields  Set = 1<<MeetingTitle | 1<<MeetingTime | 1<<MeetingPlace | 1<<MeetingLink | 1<<RSVPLink
	PetitionFields Set = 1<<SignLink | 1<<SignKeyword | 1<<CallNumber | 1<<CallScript
)

// Mode says how values are written into the text.
type Mode uint8

// Text writes values as they are; HTML escapes them, so a member named
// "<b>" or a link with "&" cannot break or inject into an email's markup.
const (
	Text Mode = iota
	HTML
)

// Template is a parsed message text.
type Template struct {
	parts []part
	uses  Set
	mode  Mode
	size  int // literal bytes, to size buffers
}

type part struct {
	text  string // literal text, when field is none
	field Field
	def   string
}

// Parse checks a template against the fields allowed. input names the
// input the error is reported against (for example "body"), so the
// organizer knows where to look.
func Parse(input, src string, allowed Set, mode Mode) (*Template, error) {
	if !utf8.ValidString(src) {
		return nil, apperr.Invalid(input, "is not valid UTF-8 text")
	}
	t := Template{mode: mode}
	rest := src
	pos := func(i int) int { return utf8.RuneCountInString(src[:len(src)-len(rest)+i]) + 1 }
	for {
		open := strings.Index(rest, "{{")
		end := strings.Index(rest, "}}")
		if open < 0 {
			if end >= 0 {
				return nil, apperr.Invalid(input, "stray \"}}\" at character %d", pos(end))
			}
			t.literal(rest)
			return &t, nil
		}
		if end >= 0 && end < open {
			return nil, apperr.Invalid(input, "stray \"}}\" at character %d", pos(end))
		}
		t.literal(rest[:open])
		closeAt := strings.Index(rest[open+2:], "}}")
		if closeAt < 0 || strings.Contains(rest[open+2:open+2+closeAt], "{{") {
			return nil, apperr.Invalid(input, "\"{{\" at character %d is never closed", pos(open))
		}
		inner := rest[open+2 : open+2+closeAt]
		name, def, _ := strings.Cut(inner, "|")
		name = strings.TrimSpace(name)
		f, ok := Lookup(name)
		if !ok {
			return nil, apperr.Invalid(input, "unknown merge field {{%s}}; known fields: %s", name, strings.Join(Known(allowed), ", "))
		}
		if !allowed.Has(f) {
			return nil, apperr.Invalid(input, "merge field {{%s}} cannot be used in this kind of campaign; known fields: %s", name, strings.Join(Known(allowed), ", "))
		}
		t.parts = append(t.parts, part{field: f, def: strings.TrimSpace(def)})
		t.uses |= Of(f)
		rest = rest[open+2+closeAt+2:]
	}
}

func (t *Template) literal(s string) {
	if s != "" {
		t.parts = append(t.parts, part{text: s})
		t.size += len(s)
	}
}

// Known lists the names of the fields in a set, sorted.
func Known(s Set) []string {
	var out []string
	for f := FirstName; f < numFields; f++ {
		if s.Has(f) {
			out = append(out, names[f])
		}
	}
	sort.Strings(out)
	return out
}

// Uses reports whether the template uses f, so a caller computes a value
// (a signed link, say) only when it is needed.
func (t *Template) Uses(f Field) bool { return t != nil && t.uses.Has(f) }

// Size is the template's literal length in bytes, a lower bound for a
// rendered message and a good buffer size.
func (t *Template) Size() int { return t.size }

// Values are what the fields other than the member's own say: set once per
// campaign step, and per member for links.
type Values [numFields]string

// Render appends the template filled for one member to dst; an empty field
// takes its default.
func (t *Template) Render(dst []byte, m *events.Member, v *Values) []byte {
	for i := range t.parts {
		p := &t.parts[i]
		if p.field == none {
			dst = append(dst, p.text...)
			continue
		}
		n := len(dst)
		dst = t.value(dst, p, m, v)
		if len(dst) == n {
			dst = t.write(dst, p.def)
		}
	}
	return dst
}

// String renders into a new string; for previews and single messages.
func (t *Template) String(m *events.Member, v *Values) string {
	if t == nil {
		return ""
	}
	return string(t.Render(make([]byte, 0, t.size+64), m, v))
}

func (t *Template) value(dst []byte, p *part, m *events.Member, v *Values) []byte {
	switch f := p.field; f {
	case FirstName:
		return t.write(dst, strings.TrimSpace(m.FirstName))
	case LastName:
		return t.write(dst, strings.TrimSpace(m.LastName))
	case FullName:
		first, last := strings.TrimSpace(m.FirstName), strings.TrimSpace(m.LastName)
		dst = t.write(dst, first)
		if first != "" && last != "" {
			dst = append(dst, ' ')
		}
		return t.write(dst, last)
	case Worksite, Employer, Role, Shift:
		return t.write(dst, strings.TrimSpace(m.Fields[names[f]]))
	case OrganizerFirstName:
		// The member's assignee's first name; a member nobody is assigned
		// to gets the template's default ({{organizer_first_name|the
		// union}}) or, without one, the organization's name.
		if first := strings.TrimSpace(m.OrganizerFirstName); first != "" {
			return t.write(dst, first)
		}
		if p.def != "" {
			return dst
		}
		return t.write(dst, v[OrgName])
	default:
		return t.write(dst, v[f])
	}
}

// write appends s, escaped in HTML mode.
func (t *Template) write(dst []byte, s string) []byte {
	if t.mode == Text {
		return append(dst, s...)
	}
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, esc...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}

// Slot is one of a member's own values as a template writes it: a member
// field (or a per-member link) with the default it falls back to. Two
// uses of {{first_name}} are one slot; {{first_name|friend}} is another.
type Slot struct {
	Field Field
	Def   string
}

// String names the slot as stored content lists it: "first_name",
// "first_name|friend".
func (s Slot) String() string {
	if s.Def == "" {
		return s.Field.String()
	}
	return s.Field.String() + "|" + s.Def
}

// PerMember reports whether a field's value differs between members of
// one step: the member's own fields and their signed links. The others
// (the union's name, the meeting's) are the same for everyone.
func PerMember(f Field) bool {
	return (MemberFields | 1<<RSVPLink | 1<<SignLink).Has(f) && f != OrgName
}

// Slots adds the template's per-member slots to have, each once, in
// order of first use.
func (t *Template) Slots(have []Slot) []Slot {
	if t == nil {
		return have
	}
	for _, p := range t.parts {
		if p.field == none || !PerMember(p.field) {
			continue
		}
		s := Slot{Field: p.field, Def: p.def}
		if !slices.Contains(have, s) {
			have = append(have, s)
		}
	}
	return have
}

// RenderShared appends the template with the step's values filled and
// each per-member slot written as tag(its index in slots), so the result
// is what every member of the step shares. Values not per member are
// escaped in HTML mode as Render escapes them; the tag is written as is.
func (t *Template) RenderShared(dst []byte, v *Values, slots []Slot, tag func(int) string) []byte {
	var nobody events.Member
	for i := range t.parts {
		p := &t.parts[i]
		switch {
		case p.field == none:
			dst = append(dst, p.text...)
		case PerMember(p.field):
			for j, s := range slots {
				if s.Field == p.field && s.Def == p.def {
					dst = append(dst, tag(j)...)
					break
				}
			}
		default:
			n := len(dst)
			dst = t.value(dst, p, &nobody, v)
			if len(dst) == n {
				dst = t.write(dst, p.def)
			}
		}
	}
	return dst
}

// Value is the slot's value for one member, unescaped: what the template
// would write for it in Text mode, default included.
func (s Slot) Value(m *events.Member, v *Values) string {
	t := Template{mode: Text}
	p := part{field: s.Field, def: s.Def}
	dst := t.value(nil, &p, m, v)
	if len(dst) == 0 {
		return s.Def
	}
	return string(dst)
}
