package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/musterhq/muster/shared/apperr"
)

func formOf(v url.Values) audienceForm { return audienceFormOf(v.Get) }

func asJSONText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAudienceBuilderWritesTheFilterLanguage holds the builder's form to
// the expression contacts reads, row by row: each condition, NOT, all
// and any, blank rows skipped, and a lone tag kept as a tag audience.
func TestAudienceBuilderWritesTheFilterLanguage(t *testing.T) {
	cases := []struct {
		name     string
		form     url.Values
		filter   string
		campaign string
	}{
		{"the older tag field", url.Values{"tag": {" Rally "}},
			`{"tag":"Rally"}`, `{"tag":"Rally"}`},
		{"one tag row", url.Values{"aud_kind_0": {"tag"}, "aud_value_0": {"nights"}},
			`{"tag":"nights"}`, `{"tag":"nights"}`},
		{"nights at Mercy, stewards left out", url.Values{"aud_match": {"all"},
			"aud_kind_0": {"tag"}, "aud_value_0": {"nights"},
			"aud_kind_1": {"worksite"}, "aud_value_1": {"Mercy"},
			"aud_kind_2": {"tag"}, "aud_value_2": {"steward"}, "aud_not_2": {"1"},
			"aud_kind_3": {"tag"}, "aud_value_3": {""}},
			`{"all":[{"tag":"nights"},{"field":"worksite","op":"eq","value":"Mercy"},{"not":{"tag":"steward"}}]}`, ""},
		{"any of shift, language, an attribute", url.Values{"aud_match": {"any"},
			"aud_kind_0": {"shift"}, "aud_value_0": {"Night"},
			"aud_kind_2": {"language"}, "aud_value_2": {"es"},
			"aud_kind_5": {"attr"}, "aud_attr_5": {"Unit"}, "aud_value_5": {"4B"}},
			`{"any":[{"field":"shift","op":"eq","value":"Night"},{"field":"language","op":"eq","value":"es"},{"field":"Unit","op":"eq","value":"4B"}]}`, ""},
		{"lacks a tag, and not lacking one", url.Values{
			"aud_kind_0": {"no_tag"}, "aud_value_0": {"steward"},
			"aud_kind_1": {"no_tag"}, "aud_value_1": {"nights"}, "aud_not_1": {"on"}},
			`{"all":[{"not":{"tag":"steward"}},{"not":{"not":{"tag":"nights"}}}]}`, ""},
		{"support at most 2", url.Values{"aud_kind_0": {"support_max"}, "aud_value_0": {"2"}},
			`{"rating":{"op":"lte","value":2}}`, ""},
		{"support is, at least, and not yet assessed", url.Values{"aud_match": {"any"},
			"aud_kind_0": {"support_is"}, "aud_value_0": {"3 · Undecided"},
			"aud_kind_1": {"support_min"}, "aud_value_1": {"4"},
			"aud_kind_2": {"unassessed"}},
			`{"any":[{"rating":{"op":"eq","value":3}},{"rating":{"op":"gte","value":4}},{"unassessed":true}]}`, ""},
		{"a negated lone tag is a filter", url.Values{"aud_kind_0": {"tag"}, "aud_value_0": {"steward"}, "aud_not_0": {"1"}},
			`{"not":{"tag":"steward"}}`, `{"filter":{"not":{"tag":"steward"}}}`},
	}
	for _, c := range cases {
		f := formOf(c.form)
		flt, err := f.filter()
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := asJSONText(t, flt); got != c.filter {
			t.Errorf("%s: filter\n%s\nwant\n%s", c.name, got, c.filter)
		}
		aud, err := f.campaignAudience()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := c.campaign
		if want == "" {
			want = `{"filter":` + c.filter + `}`
		}
		if got := asJSONText(t, aud); got != want {
			t.Errorf("%s: campaign audience %s, want %s", c.name, got, want)
		}
	}
}

// TestAudienceBuilderRefusesBadInputByRow: what the builder cannot send
// is refused naming the condition as the page numbers it and the input
// to fix, before anything reaches contacts or campaigns.
func TestAudienceBuilderRefusesBadInputByRow(t *testing.T) {
	cases := []struct {
		form  url.Values
		field string
		says  string
	}{
		{url.Values{}, "aud_value_0", "add at least one condition"},
		{url.Values{"aud_kind_0": {"tag"}, "aud_value_0": {""}, "aud_kind_1": {"worksite"}}, "aud_value_0", "add at least one condition"},
		{url.Values{"aud_match": {"most"}, "aud_value_0": {"x"}}, "aud_match", "all the conditions or any"},
		{url.Values{"aud_kind_0": {"tag"}, "aud_value_0": {"a"}, "aud_kind_1": {"colour"}, "aud_value_1": {"red"}}, "aud_kind_1", "condition 2: \"colour\" is not a condition"},
		{url.Values{"aud_kind_0": {"attr"}, "aud_attr_0": {"unit"}}, "aud_value_0", "condition 1: say which value unit must equal"},
		{url.Values{"aud_kind_0": {"attr"}, "aud_value_0": {"4B"}}, "aud_attr_0", "condition 1: name the attribute"},
		{url.Values{"aud_kind_0": {"attr"}, "aud_attr_0": {"???"}, "aud_value_0": {"4B"}}, "aud_attr_0", "not an attribute name"},
		{url.Values{"aud_kind_0": {"tag"}, "aud_value_0": {strings.Repeat("t", 101)}}, "aud_value_0", "at most 100"},
		{url.Values{"aud_kind_0": {"worksite"}, "aud_value_0": {strings.Repeat("w", 257)}}, "aud_value_0", "longer than 256"},
		{url.Values{"aud_kind_0": {"support_max"}, "aud_value_0": {"6"}}, "aud_value_0", "condition 1: say a support level from 1 (leader) to 5"},
		{url.Values{"aud_kind_0": {"support_is"}, "aud_value_0": {"0"}}, "aud_value_0", "support level from 1"},
		{url.Values{"aud_kind_0": {"support_min"}, "aud_value_0": {"high"}}, "aud_value_0", "support level from 1"},
	}
	for _, c := range cases {
		f := formOf(c.form)
		_, err := f.campaignAudience()
		if err == nil {
			t.Errorf("%v: accepted", c.form)
			continue
		}
		if apperr.KindOf(err) != apperr.KindInvalid || apperr.FieldOf(err) != c.field || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v (field %q), want invalid %s saying %q", c.form, err, apperr.FieldOf(err), c.field, c.says)
		}
	}
	// Rows after a blank one are numbered as the page shows them.
	f := formOf(url.Values{"aud_kind_0": {"tag"}, "aud_value_0": {"a"}, "aud_kind_4": {"attr"}, "aud_value_4": {"x"}})
	if _, err := f.filter(); err == nil || !strings.Contains(err.Error(), "condition 2") {
		t.Errorf("second filled row = %v, want it called condition 2", err)
	}
}

func TestAudienceWordsSayTheFilter(t *testing.T) {
	for _, c := range []struct{ tag, filter, want string }{
		{"rally", "", "tagged rally"},
		{"", `{"all":[{"tag":"nights"},{"field":"worksite","op":"eq","value":"Mercy"},{"not":{"tag":"steward"}}]}`, "tagged nights, worksite is Mercy and not tagged steward"},
		{"", `{"any":[{"field":"union_steward","value":"yes"},{"not":{"field":"shift","op":"eq","value":"Day"}}]}`, "union steward is yes or shift is not Day"},
		{"", `{"all":[]}`, "everyone"},
		{"", `{"all":[{"tag":"nights"},{"rating":{"op":"lte","value":2}},{"not":{"unassessed":true}}]}`, "tagged nights, support at most 2 · Supporter and not (not yet assessed)"},
		{"", `{"unassessed":true}`, "not yet assessed"},
	} {
		if got := audienceWords(c.tag, json.RawMessage(c.filter)); got != c.want {
			t.Errorf("audienceWords(%q, %s) = %q, want %q", c.tag, c.filter, got, c.want)
		}
	}
}

// TestStoredAudienceGoesBackIntoTheBuilder: what the builder wrote reads
// back into the same rows (so an editor can change a draft's audience),
// and a filter it cannot write is said to be so rather than mangled.
func TestStoredAudienceGoesBackIntoTheBuilder(t *testing.T) {
	for _, form := range []url.Values{
		{"tag": {"rally"}},
		{"aud_match": {"all"}, "aud_kind_0": {"tag"}, "aud_value_0": {"nights"}, "aud_kind_1": {"worksite"}, "aud_value_1": {"Mercy"},
			"aud_kind_2": {"tag"}, "aud_value_2": {"steward"}, "aud_not_2": {"1"}},
		{"aud_match": {"any"}, "aud_kind_0": {"no_tag"}, "aud_value_0": {"a"}, "aud_kind_1": {"attr"}, "aud_attr_1": {"unit"}, "aud_value_1": {"4B"}, "aud_not_1": {"1"},
			"aud_kind_2": {"language"}, "aud_value_2": {"es"}},
		{"aud_kind_0": {"shift"}, "aud_value_0": {"night"}, "aud_not_0": {"1"}},
		{"aud_match": {"any"}, "aud_kind_0": {"support_max"}, "aud_value_0": {"2"}, "aud_kind_1": {"unassessed"}, "aud_kind_2": {"support_min"}, "aud_value_2": {"4"}, "aud_not_2": {"1"}},
		{"aud_kind_0": {"support_is"}, "aud_value_0": {"3"}},
	} {
		f := formOf(form)
		aud, err := f.campaignAudience()
		if err != nil {
			t.Fatal(err)
		}
		var stored storedAudience
		if err := json.Unmarshal([]byte(asJSONText(t, aud)), &stored); err != nil {
			t.Fatal(err)
		}
		back, ok := audienceFormOfStored(stored)
		if !ok {
			t.Errorf("%s did not read back", asJSONText(t, aud))
			continue
		}
		again, err := back.campaignAudience()
		if err != nil || asJSONText(t, again) != asJSONText(t, aud) {
			t.Errorf("%s read back as %s (%v)", asJSONText(t, aud), asJSONText(t, again), err)
		}
	}
	for _, raw := range []string{
		`{"consent": {"channel": "sms", "status": "subscribed"}}`,
		`{"all": [{"tag": "a"}, {"any": [{"tag": "b"}, {"tag": "c"}]}]}`,
		`{"field": "worksite", "op": "prefix", "value": "Mer"}`,
		`{"not": {"not": {"not": {"tag": "a"}}}}`,
		`{"not": {"all": [{"tag": "a"}]}}`,
	} {
		if f, ok := audienceFormOfStored(storedAudience{Filter: json.RawMessage(raw)}); ok {
			t.Errorf("%s read as the builder's %+v", raw, f)
		}
	}
}
