package server

import (
	"net/url"
	"testing"

	"github.com/musterhq/muster/shared/apperr"
)

// TestSupportChoicesBecomeContactsFilters: the contacts list's support
// choice reaches contacts as its list parameters and, for a bulk rating
// of everyone the filter selects, as the filter language; an empty
// filter is refused rather than read as everyone.
func TestSupportChoicesBecomeContactsFilters(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "3": "rating=3", "max2": "rating_max=2", "min4": "rating_min=4", "unassessed": "rating=unassessed",
	} {
		q, err := supportQuery(in)
		if err != nil || q.Encode() != want {
			t.Errorf("supportQuery(%q) = %q %v, want %q", in, q.Encode(), err, want)
		}
	}
	for _, bad := range []string{"6", "max0", "min9", "high"} {
		if _, err := supportQuery(bad); apperr.KindOf(err) != apperr.KindInvalid {
			t.Errorf("supportQuery(%q) = %v, want invalid", bad, err)
		}
	}
	flt, err := listFilter(url.Values{"q": {"ana"}, "tag": {"nights"}, "support": {"max2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := asJSONText(t, flt); got != `{"all":[{"text":"ana"},{"tag":"nights"},{"rating":{"op":"lte","value":2}}]}` {
		t.Errorf("listFilter = %s", got)
	}
	flt, _ = listFilter(url.Values{"support": {"unassessed"}})
	if got := asJSONText(t, flt); got != `{"all":[{"unassessed":true}]}` {
		t.Errorf("listFilter(unassessed) = %s", got)
	}
	if _, err := listFilter(url.Values{}); apperr.KindOf(err) != apperr.KindInvalid {
		t.Errorf("an empty list filter = %v, want refused", err)
	}
}

// TestChartGroupRowsPutEveryoneAtTheirLevel: the page's rows are levels 1
// to 5 then the unassessed, each with its members, and a group without a
// worksite says so.
func TestChartGroupRowsPutEveryoneAtTheirLevel(t *testing.T) {
	g := chartGroup{Keys: []string{"", "Night"}, Levels: [5]int64{1, 0, 0, 0, 1}, Unassessed: 1, Total: 3,
		Members: []chartMember{{FirstName: "Ana", Rating: 1}, {FirstName: "Bo", Rating: 5}, {LastName: "Cy", Rating: 0}}}
	rows := g.Rows()
	if len(rows) != 6 || rows[0].Label != "1 · Leader" || rows[0].Count != 1 || rows[0].Members[0].Name() != "Ana" ||
		rows[4].Members[0].Name() != "Bo" || rows[5].Label != "Unassessed" || rows[5].Members[0].Name() != "Cy" || len(rows[2].Members) != 0 {
		t.Errorf("rows = %+v", rows)
	}
	if got := g.Title([]string{"worksite", "shift"}); got != "(no worksite) · Night" {
		t.Errorf("title = %q", got)
	}
}
