// Package filter is the audience language: a small JSON tree of conditions
// over tags, fields, consent and channels that organizers save and
// campaigns send. It parses and validates a filter into a Node; the store
// compiles a Node to SQL with parameters. Nothing here knows about SQL.
//
//	{"all": [...]}  {"any": [...]}  {"not": {...}}
//	{"tag": "night-shift"}
//	{"field": "worksite", "op": "eq" | "in" | "prefix", "value": ...}
//	{"consent": {"channel": "sms", "status": "subscribed" | "opted_out"}}
//	{"has": "phone" | "email" | "member_id" | <attribute>}
//	{"text": "ana"}   (case-insensitive substring of the name)
//	{"rating": {"op": "eq" | "lte" | "gte", "value": 1-5}}   (latest support rating)
//	{"unassessed": true}   (no support rating yet)
//
// A rating condition never matches an unassessed member: "rating at most
// 2" is the rated leaders and supporters, and {"not": {"rating": ...}}
// includes the unassessed.
package filter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
)

// Kind says which condition a Node is.
type Kind int

// The conditions of the language.
const (
	KindAll Kind = iota
	KindAny
	KindNot
	KindTag
	KindField
	KindConsent
	KindHas
	KindText
	KindRating
	KindUnassessed
)

// Op is how a field condition compares.
type Op string

// The comparisons a field condition may use. All compare text without
// regard to case, so "North Clinic" and "north clinic" are one worksite.
const (
	OpEq     Op = "eq"
	OpIn     Op = "in"
	OpPrefix Op = "prefix"
	// OpLte and OpGte compare a rating: at most, at least.
	OpLte Op = "lte"
	OpGte Op = "gte"
)

// Consent statuses a filter can ask for. A contact whose address has no
// consent record is subscribed: an opt-out is what removes someone.
const (
	StatusSubscribed = "subscribed"
	StatusOptedOut   = "opted_out"
)

// Limits keep a filter something a person wrote: deep or huge trees are
// refused before they reach the database.
const (
	MaxDepth  = 12
	MaxNodes  = 256
	MaxValues = 1000
	MaxText   = 256
)

// Field names a contact field a condition reads: a column, or an
// attribute (standard or custom).
type Field struct {
	// Column is set for first_name, last_name, phone, email, member_id,
	// assignee_id,
	// language and time_zone.
	Column string
	// Attribute is the attribute key otherwise.
	Attribute string
}

// Name is how the field is written in a filter.
func (f Field) Name() string {
	if f.Column != "" {
		return f.Column
	}
	return f.Attribute
}

// isColumn reports the field names that are columns of a contact.
func isColumn(name string) bool {
	switch name {
	case "first_name", "last_name", "phone", "email", "member_id", "language", "time_zone", "assignee_id":
		return true
	}
	return false
}

// ParseField resolves a field name: a column name as is, anything else an
// attribute ("attributes.unit" and "Unit" both name attribute "unit").
func ParseField(name string) (Field, error) {
	n := strings.TrimSpace(name)
	if isColumn(strings.ToLower(n)) {
		return Field{Column: strings.ToLower(n)}, nil
	}
	n = strings.TrimPrefix(n, "attributes.")
	key := contact.AttributeKey(n)
	if key == "" {
		return Field{}, fmt.Errorf("%q names no field", name)
	}
	return Field{Attribute: key}, nil
}

// Node is one parsed condition. Only the members its Kind uses are set.
type Node struct {
	Kind     Kind
	Children []Node // all, any, not (one child)
	Tag      string
	Field    Field
	Op       Op
	Values   []string // one for eq and prefix
	Channel  string   // consent: "sms" or "email"
	Status   string   // consent
	Text     string
	Rating   int // rating: the level compared with Op (eq, lte, gte)
}

// Everyone is the filter that matches every contact.
func Everyone() Node { return Node{Kind: KindAll} }

// And joins filters so all must hold; it is how a tag and a filter sent
// together combine.
func And(nodes ...Node) Node { return Node{Kind: KindAll, Children: nodes} }

// IsEmpty reports whether raw holds no filter at all (absent, null, {}).
func IsEmpty(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}"))
}

// Parse reads a filter. An empty one (absent, null or {}) matches everyone.
// Errors are apperr invalid errors naming the path to the fault, such as
// "filter.all[1].field".
func Parse(raw json.RawMessage) (Node, error) {
	if IsEmpty(raw) {
		return Everyone(), nil
	}
	p := parser{}
	return p.node(raw, "filter", 1)
}

type parser struct{ nodes int }

func (p *parser) node(raw json.RawMessage, path string, depth int) (Node, error) {
	p.nodes++
	if p.nodes > MaxNodes {
		return Node{}, apperr.Invalid(path, "the filter has more than %d conditions", MaxNodes)
	}
	if depth > MaxDepth {
		return Node{}, apperr.Invalid(path, "the filter nests deeper than %d levels", MaxDepth)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return Node{}, apperr.Invalid(path, "want an object such as {\"tag\": \"night-shift\"}")
	}
	if _, ok := obj["field"]; ok {
		return p.field(obj, path)
	}
	if len(obj) != 1 {
		return Node{}, apperr.Invalid(path, "want exactly one of all, any, not, tag, field, consent, has, text, rating, unassessed; got %s", keys(obj))
	}
	for key, val := range obj {
		sub := path + "." + key
		switch key {
		case "all", "any":
			var list []json.RawMessage
			if err := json.Unmarshal(val, &list); err != nil {
				return Node{}, apperr.Invalid(sub, "want a list of conditions")
			}
			n := Node{Kind: KindAll}
			if key == "any" {
				n.Kind = KindAny
			}
			for i, item := range list {
				child, err := p.node(item, fmt.Sprintf("%s[%d]", sub, i), depth+1)
				if err != nil {
					return Node{}, err
				}
				n.Children = append(n.Children, child)
			}
			return n, nil
		case "not":
			child, err := p.node(val, sub, depth+1)
			if err != nil {
				return Node{}, err
			}
			return Node{Kind: KindNot, Children: []Node{child}}, nil
		case "tag":
			s, err := str(val, sub)
			if err != nil {
				return Node{}, err
			}
			tags := contact.NormalizeTags([]string{s})
			if len(tags) == 0 {
				return Node{}, apperr.Invalid(sub, "is empty")
			}
			return Node{Kind: KindTag, Tag: tags[0]}, nil
		case "has":
			s, err := str(val, sub)
			if err != nil {
				return Node{}, err
			}
			f, err := ParseField(s)
			if err != nil {
				return Node{}, apperr.Invalid(sub, "%v", err)
			}
			return Node{Kind: KindHas, Field: f}, nil
		case "text":
			s, err := str(val, sub)
			if err != nil {
				return Node{}, err
			}
			if strings.TrimSpace(s) == "" {
				return Node{}, apperr.Invalid(sub, "is empty")
			}
			return Node{Kind: KindText, Text: strings.TrimSpace(s)}, nil
		case "consent":
			var c struct {
				Channel string `json:"channel"`
				Status  string `json:"status"`
			}
			dec := json.NewDecoder(bytes.NewReader(val))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				return Node{}, apperr.Invalid(sub, "want {\"channel\": \"sms\"|\"email\", \"status\": \"subscribed\"|\"opted_out\"}")
			}
			if c.Channel != "sms" && c.Channel != "email" {
				return Node{}, apperr.Invalid(sub+".channel", "want sms or email, got %q", c.Channel)
			}
			if c.Status != StatusSubscribed && c.Status != StatusOptedOut {
				return Node{}, apperr.Invalid(sub+".status", "want subscribed or opted_out, got %q", c.Status)
			}
			return Node{Kind: KindConsent, Channel: c.Channel, Status: c.Status}, nil
		case "rating":
			return rating(val, sub)
		case "unassessed":
			var yes bool
			if err := json.Unmarshal(val, &yes); err != nil || !yes {
				return Node{}, apperr.Invalid(sub, "want true; for the assessed, write {\"not\": {\"unassessed\": true}}")
			}
			return Node{Kind: KindUnassessed}, nil
		default:
			return Node{}, apperr.Invalid(path, "unknown condition %q: want all, any, not, tag, field, consent, has, text, rating or unassessed", key)
		}
	}
	return Node{}, apperr.Invalid(path, "is an empty condition")
}

func (p *parser) field(obj map[string]json.RawMessage, path string) (Node, error) {
	for k := range obj {
		if k != "field" && k != "op" && k != "value" {
			return Node{}, apperr.Invalid(path, "a field condition takes field, op and value; got %q", k)
		}
	}
	name, err := str(obj["field"], path+".field")
	if err != nil {
		return Node{}, err
	}
	f, err := ParseField(name)
	if err != nil {
		return Node{}, apperr.Invalid(path+".field", "%v", err)
	}
	op := OpEq
	if raw, ok := obj["op"]; ok {
		s, err := str(raw, path+".op")
		if err != nil {
			return Node{}, err
		}
		op = Op(s)
	}
	n := Node{Kind: KindField, Field: f, Op: op}
	val, ok := obj["value"]
	if !ok {
		return Node{}, apperr.Invalid(path+".value", "is missing")
	}
	switch op {
	case OpEq, OpPrefix:
		s, err := str(val, path+".value")
		if err != nil {
			return Node{}, err
		}
		if op == OpPrefix && s == "" {
			return Node{}, apperr.Invalid(path+".value", "a prefix cannot be empty")
		}
		n.Values = []string{s}
	case OpIn:
		var list []string
		if err := json.Unmarshal(val, &list); err != nil {
			return Node{}, apperr.Invalid(path+".value", "want a list of strings for op in")
		}
		if len(list) == 0 || len(list) > MaxValues {
			return Node{}, apperr.Invalid(path+".value", "want 1 to %d values, got %d", MaxValues, len(list))
		}
		for _, s := range list {
			if len(s) > MaxText {
				return Node{}, apperr.Invalid(path+".value", "a value is longer than %d bytes", MaxText)
			}
		}
		n.Values = list
	default:
		return Node{}, apperr.Invalid(path+".op", "unknown op %q: want eq, in or prefix", op)
	}
	return n, nil
}

// rating reads {"op": "eq"|"lte"|"gte", "value": 1-5}; op defaults to eq.
func rating(raw json.RawMessage, path string) (Node, error) {
	var r struct {
		Op    Op              `json:"op"`
		Value json.RawMessage `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Node{}, apperr.Invalid(path, "want {\"op\": \"eq\"|\"lte\"|\"gte\", \"value\": 1 to 5}")
	}
	if r.Op == "" {
		r.Op = OpEq
	}
	if r.Op != OpEq && r.Op != OpLte && r.Op != OpGte {
		return Node{}, apperr.Invalid(path+".op", "want eq, lte (at most) or gte (at least), got %q", r.Op)
	}
	var level int
	if err := json.Unmarshal(r.Value, &level); err != nil {
		return Node{}, apperr.Invalid(path+".value", "want a whole number from 1 to 5")
	}
	if err := contact.CheckRating(level); err != nil {
		return Node{}, apperr.Invalid(path+".value", "want a support level from 1 (leader) to 5 (opposed), got %d", level)
	}
	return Node{Kind: KindRating, Op: r.Op, Rating: level}, nil
}

func str(raw json.RawMessage, path string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", apperr.Invalid(path, "want a string")
	}
	if len(s) > MaxText {
		return "", apperr.Invalid(path, "is longer than %d bytes", MaxText)
	}
	return s, nil
}

func keys(obj map[string]json.RawMessage) string {
	ks := make([]string, 0, len(obj))
	for k := range obj {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if len(ks) == 0 {
		return "nothing"
	}
	return strings.Join(ks, ", ")
}
