package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type ratingJSON struct {
	Rating  int    `json:"rating"`
	Label   string `json:"label"`
	RatedBy string `json:"rated_by"`
	Note    string `json:"note"`
	RatedAt string `json:"rated_at"`
}

// TestRatingsAPI rates one member and many, reads a history newest first,
// lists by rating and charts by worksite and shift through contacts' API.
func TestRatingsAPI(t *testing.T) {
	base, _ := start(t)
	ids := map[string]string{}
	for i, m := range []struct{ name, site, shift string }{
		{"Ana", "North", "Day"}, {"Bo", "North", "Night"}, {"Cy", "South", "Day"}, {"Dee", "South", "Night"},
	} {
		c := mustCreate(t, base, map[string]any{"first_name": m.name, "phone": "21255501" + string(rune('1'+i)) + "0",
			"attributes": map[string]string{"worksite": m.site, "shift": m.shift}})
		ids[m.name] = c.ID
	}
	var r ratingJSON
	if code, raw := call(t, "PUT", base+"/contacts/"+ids["Ana"]+"/rating", map[string]any{"rating": 3, "by": "Olga", "note": "first talk"}, &r); code != http.StatusOK || r.Label != "3 · Undecided" {
		t.Fatalf("rate Ana = %d %s", code, raw)
	}
	if code, raw := call(t, "PUT", base+"/contacts/"+ids["Ana"]+"/rating", map[string]any{"rating": 1, "by": "Olga"}, &r); code != http.StatusOK || r.Rating != 1 {
		t.Fatalf("rate Ana again = %d %s", code, raw)
	}
	var hist struct{ Ratings []ratingJSON }
	if code, raw := call(t, "GET", base+"/contacts/"+ids["Ana"]+"/ratings", nil, &hist); code != http.StatusOK || len(hist.Ratings) != 2 ||
		hist.Ratings[0].Rating != 1 || hist.Ratings[1].Note != "first talk" {
		t.Fatalf("history = %d %s", code, raw)
	}
	var got struct {
		Rating *ratingJSON `json:"rating"`
	}
	if code, raw := call(t, "GET", base+"/contacts/"+ids["Ana"], nil, &got); code != http.StatusOK || got.Rating == nil || got.Rating.Rating != 1 || got.Rating.RatedBy != "Olga" {
		t.Fatalf("contact = %d %s", code, raw)
	}

	// Bad input is refused and changes nothing.
	for _, c := range []struct {
		path string
		body map[string]any
		code int
		says string
	}{
		{"/contacts/" + ids["Bo"] + "/rating", map[string]any{"rating": 0, "by": "Olga"}, 400, "1 (leader) to 5"},
		{"/contacts/" + ids["Bo"] + "/rating", map[string]any{"rating": 6, "by": "Olga"}, 400, "1 (leader) to 5"},
		{"/contacts/" + ids["Bo"] + "/rating", map[string]any{"rating": 2}, 400, "who rated"},
		{"/contacts/00000000-0000-0000-0000-000000000000/rating", map[string]any{"rating": 2, "by": "Olga"}, 404, "no contact"},
	} {
		if code, raw := call(t, "PUT", base+c.path, c.body, nil); code != c.code || !strings.Contains(raw, c.says) {
			t.Errorf("PUT %s %v = %d %s, want %d saying %q", c.path, c.body, code, raw, c.code, c.says)
		}
	}
	if code, raw := call(t, "POST", base+"/contacts/ratings", map[string]any{"rating": 6, "by": "Olga", "ids": []string{ids["Bo"]}}, nil); code != 400 {
		t.Errorf("bulk 6 = %d %s", code, raw)
	}
	if code, raw := call(t, "GET", base+"/contacts/00000000-0000-0000-0000-000000000000/ratings", nil, nil); code != 404 {
		t.Errorf("history of nobody = %d %s", code, raw)
	}

	// Many at once: by ids, and by a filter.
	var many struct {
		Rated int      `json:"rated"`
		IDs   []string `json:"ids"`
	}
	if code, raw := call(t, "POST", base+"/contacts/ratings", map[string]any{"rating": 2, "by": "Olga", "ids": []string{ids["Bo"], ids["Cy"]}}, &many); code != 200 || many.Rated != 2 {
		t.Fatalf("bulk by ids = %d %s", code, raw)
	}
	if code, raw := call(t, "POST", base+"/contacts/ratings", map[string]any{"rating": 5, "by": "Olga",
		"filter": map[string]any{"all": []any{map[string]any{"field": "shift", "value": "night"}, map[string]any{"rating": map[string]any{"op": "gte", "value": 2}}}}}, &many); code != 200 || many.Rated != 1 || many.IDs[0] != ids["Bo"] {
		t.Fatalf("bulk by filter = %d %s", code, raw)
	}

	// Lists filter on the latest rating.
	for q, want := range map[string]int{
		"rating_max=2": 2, "rating=5": 1, "rating=unassessed": 1, "rating_min=2": 2,
		"filter=" + url.QueryEscape(`{"rating": {"op": "lte", "value": 2}}`): 2,
		"filter=" + url.QueryEscape(`{"unassessed": true}`):                  1,
	} {
		var list struct{ Contacts []contactJSON }
		if code, raw := call(t, "GET", base+"/contacts?"+q, nil, &list); code != 200 || len(list.Contacts) != want {
			t.Errorf("GET /contacts?%s = %d %s, want %d contacts", q, code, raw, want)
		}
	}
	if code, raw := call(t, "GET", base+"/contacts?rating=7", nil, nil); code != 400 {
		t.Errorf("rating=7 = %d %s", code, raw)
	}

	// The export carries the latest rating (empty while unassessed).
	rows := getCSV(t, base+"/contacts/export.csv?worksite=North")
	header := strings.Join(rows[0], ",")
	if !strings.HasSuffix(header, "created_at,support_rating,rated_at") || len(rows) != 3 {
		t.Fatalf("export = %q", rows)
	}
	for _, r := range rows[1:] {
		level := r[len(r)-2]
		if level != "1" && level != "5" || r[len(r)-1] == "" {
			t.Errorf("exported rating of a North member = %q", r)
		}
	}

	// The chart: two worksites by two shifts.
	var chart struct {
		By     []string `json:"by"`
		Groups []struct {
			Keys       []string `json:"keys"`
			Levels     []int    `json:"levels"`
			Unassessed int      `json:"unassessed"`
			Members    []struct {
				FirstName string `json:"first_name"`
				Rating    int    `json:"rating"`
			} `json:"members"`
		} `json:"groups"`
	}
	if code, raw := call(t, "GET", base+"/chart?by=worksite,shift", nil, &chart); code != 200 || len(chart.Groups) != 4 {
		t.Fatalf("chart = %d %s", code, raw)
	}
	want := map[string]string{"North/Day": "Ana:1", "North/Night": "Bo:5", "South/Day": "Cy:2", "South/Night": "Dee:0"}
	for _, g := range chart.Groups {
		k := strings.Join(g.Keys, "/")
		m := g.Members[0]
		if len(g.Members) != 1 || m.FirstName+":"+string(rune('0'+m.Rating)) != want[k] {
			t.Errorf("group %s = %+v, want %s", k, g, want[k])
		}
		if m.Rating == 0 && g.Unassessed != 1 || m.Rating > 0 && g.Levels[m.Rating-1] != 1 {
			t.Errorf("group %s counts = %+v", k, g)
		}
	}
	if code, raw := call(t, "GET", base+"/chart?by=colour", nil, nil); code != 400 {
		t.Errorf("chart by colour = %d %s", code, raw)
	}
}
