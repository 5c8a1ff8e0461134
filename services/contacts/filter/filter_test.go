package filter

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/apperr"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want Node
	}{
		{``, Everyone()},
		{`null`, Everyone()},
		{`{}`, Everyone()},
		{`{"tag": " Night-Shift "}`, Node{Kind: KindTag, Tag: "night-shift"}},
		{`{"all": [{"tag": "a"}, {"not": {"has": "email"}}]}`, Node{Kind: KindAll, Children: []Node{
			{Kind: KindTag, Tag: "a"},
			{Kind: KindNot, Children: []Node{{Kind: KindHas, Field: Field{Column: "email"}}}},
		}}},
		{`{"any": []}`, Node{Kind: KindAny}},
		{`{"field": "worksite", "op": "in", "value": ["North", "South"]}`,
			Node{Kind: KindField, Field: Field{Attribute: "worksite"}, Op: OpIn, Values: []string{"North", "South"}}},
		{`{"field": "Union Steward", "value": "yes"}`,
			Node{Kind: KindField, Field: Field{Attribute: "union_steward"}, Op: OpEq, Values: []string{"yes"}}},
		{`{"field": "attributes.unit", "op": "prefix", "value": "4"}`,
			Node{Kind: KindField, Field: Field{Attribute: "unit"}, Op: OpPrefix, Values: []string{"4"}}},
		{`{"field": "Language", "op": "eq", "value": "es"}`,
			Node{Kind: KindField, Field: Field{Column: "language"}, Op: OpEq, Values: []string{"es"}}},
		{`{"consent": {"channel": "sms", "status": "opted_out"}}`, Node{Kind: KindConsent, Channel: "sms", Status: StatusOptedOut}},
		{`{"text": " ana "}`, Node{Kind: KindText, Text: "ana"}},
		{`{"rating": {"op": "lte", "value": 2}}`, Node{Kind: KindRating, Op: OpLte, Rating: 2}},
		{`{"rating": {"value": 3}}`, Node{Kind: KindRating, Op: OpEq, Rating: 3}},
		{`{"rating": {"op": "gte", "value": 5}}`, Node{Kind: KindRating, Op: OpGte, Rating: 5}},
		{`{"unassessed": true}`, Node{Kind: KindUnassessed}},
	}
	for _, c := range cases {
		got, err := Parse(json.RawMessage(c.in))
		if err != nil {
			t.Errorf("Parse(%s): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%s) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	deep := strings.Repeat(`{"not":`, MaxDepth+1) + `{"tag":"x"}` + strings.Repeat(`}`, MaxDepth+1)
	many := `{"any":[` + strings.Repeat(`{"tag":"x"},`, MaxNodes) + `{"tag":"y"}]}`
	cases := []struct{ in, path, says string }{
		{`[]`, "filter", "want an object"},
		{`{"tag": "a", "has": "phone"}`, "filter", "exactly one"},
		{`{"all": [{"tag": 3}]}`, "filter.all[0].tag", "want a string"},
		{`{"all": [{}]}`, "filter.all[0]", "exactly one"},
		{`{"tag": ""}`, "filter.tag", "empty"},
		{`{"color": "red"}`, "filter", "unknown condition"},
		{`{"rating": {"op": "lte", "value": 0}}`, "filter.rating.value", "1 (leader) to 5"},
		{`{"rating": {"value": 6}}`, "filter.rating.value", "1 (leader) to 5"},
		{`{"rating": {"value": "2"}}`, "filter.rating.value", "whole number"},
		{`{"rating": {"op": "lt", "value": 2}}`, "filter.rating.op", "want eq, lte"},
		{`{"rating": 2}`, "filter.rating", "want {"},
		{`{"unassessed": false}`, "filter.unassessed", "want true"},
		{`{"field": "worksite", "op": "like", "value": "x"}`, "filter.op", "unknown op"},
		{`{"field": "worksite", "op": "in", "value": "x"}`, "filter.value", "list of strings"},
		{`{"field": "worksite", "op": "in", "value": []}`, "filter.value", "1 to"},
		{`{"field": "worksite", "op": "prefix", "value": ""}`, "filter.value", "cannot be empty"},
		{`{"field": "worksite"}`, "filter.value", "missing"},
		{`{"field": "???", "value": "x"}`, "filter.field", "names no field"},
		{`{"field": "worksite", "value": "x", "extra": 1}`, "filter", "takes field, op and value"},
		{`{"consent": {"channel": "fax", "status": "subscribed"}}`, "filter.consent.channel", "sms or email"},
		{`{"consent": {"channel": "sms", "status": "maybe"}}`, "filter.consent.status", "subscribed or opted_out"},
		{`{"consent": {"channel": "sms", "status": "subscribed", "x": 1}}`, "filter.consent", "want {"},
		{`{"text": "   "}`, "filter.text", "empty"},
		{deep, "filter" + strings.Repeat(".not", MaxDepth), "deeper"},
		{many, "filter.any[" + "255" + "]", "more than"},
	}
	for _, c := range cases {
		_, err := Parse(json.RawMessage(c.in))
		if err == nil {
			t.Errorf("Parse(%.60s) accepted", c.in)
			continue
		}
		if apperr.KindOf(err) != apperr.KindInvalid || apperr.FieldOf(err) != c.path || !strings.Contains(err.Error(), c.says) {
			t.Errorf("Parse(%.60s) = %v (path %q), want path %q saying %q", c.in, err, apperr.FieldOf(err), c.path, c.says)
		}
	}
}

// FuzzParse checks that any JSON either parses into a tree within the
// limits or is refused with an invalid error naming a path in the filter.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"tag":"a"}`, `{"all":[{"not":{"has":"phone"}}]}`, `{"field":"x","op":"in","value":["a"]}`,
		`{"consent":{"channel":"sms","status":"subscribed"}}`, `{"any":[]}`, `[1]`, `{"text":"%_"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := Parse(json.RawMessage(raw))
		if err != nil {
			if apperr.KindOf(err) != apperr.KindInvalid || !strings.HasPrefix(apperr.FieldOf(err), "filter") {
				t.Fatalf("Parse(%q) = %v", raw, err)
			}
			return
		}
		if d, c := size(n, 1); d > MaxDepth || c > MaxNodes {
			t.Fatalf("Parse(%q) made a tree %d deep with %d nodes", raw, d, c)
		}
	})
}

func size(n Node, depth int) (maxDepth, count int) {
	maxDepth, count = depth, 1
	for _, c := range n.Children {
		d, k := size(c, depth+1)
		maxDepth, count = max(maxDepth, d), count+k
	}
	return maxDepth, count
}
