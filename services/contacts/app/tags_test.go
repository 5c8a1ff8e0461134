package app_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
)

type tagList struct {
	Tags []struct {
		Tag   string `json:"tag"`
		Count int64  `json:"count"`
	} `json:"tags"`
}

func (l tagList) String() string {
	var b strings.Builder
	for _, t := range l.Tags {
		b.WriteString(t.Tag)
		b.WriteString("=")
		b.WriteString(strings.Repeat("I", int(t.Count)))
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

// TestTagsListsTagsInUseMostUsedFirst: GET /tags answers the console's
// suggestions: each tag with its count, most used first, narrowed by a
// prefix typed any case, and refuses a limit it cannot honour.
func TestTagsListsTagsInUseMostUsedFirst(t *testing.T) {
	url, _ := start(t)
	mustCreate(t, url, map[string]any{"first_name": "Ana", "phone": "2125550101", "tags": []string{"nights", "steward"}})
	mustCreate(t, url, map[string]any{"first_name": "Bo", "phone": "2125550102", "tags": []string{"Nights", "north"}})
	mustCreate(t, url, map[string]any{"first_name": "Cy", "phone": "2125550103", "tags": []string{"nights"}})
	mustCreate(t, url, map[string]any{"first_name": "Di", "phone": "2125550104"})

	for _, c := range []struct{ query, want string }{
		{"", "nights=III north=I steward=I"},
		{"?q=N", "nights=III north=I"},
		{"?q=nor", "north=I"},
		{"?q=zzz", ""},
		{"?limit=1", "nights=III"},
	} {
		var got tagList
		if code, raw := call(t, "GET", url+"/tags"+c.query, nil, &got); code != http.StatusOK || got.Tags == nil {
			t.Fatalf("GET /tags%s = %d %s", c.query, code, raw)
		}
		if got.String() != c.want {
			t.Errorf("GET /tags%s = %q, want %q", c.query, got.String(), c.want)
		}
	}
	for _, bad := range []string{"?limit=0", "?limit=201", "?limit=many", "?q=" + strings.Repeat("x", 101)} {
		if code, raw := call(t, "GET", url+"/tags"+bad, nil, nil); code != http.StatusBadRequest {
			t.Errorf("GET /tags%s = %d %s, want 400", bad, code, raw)
		}
	}
}

// TestPatchAddsAndRemovesSingleTags: tagging one member changes that tag
// only, keeping the others, and a confused request is refused naming why.
func TestPatchAddsAndRemovesSingleTags(t *testing.T) {
	url, _ := start(t)
	c := mustCreate(t, url, map[string]any{"first_name": "Ana", "phone": "2125550101", "tags": []string{"nights", "steward"}})
	var got contactJSON
	code, raw := call(t, "PATCH", url+"/contacts/"+c.ID, map[string]any{"add_tags": []string{" Rally "}, "remove_tags": []string{"STEWARD"}}, &got)
	if code != http.StatusOK {
		t.Fatalf("patch = %d %s", code, raw)
	}
	tags := slices.Clone(got.Tags)
	slices.Sort(tags)
	if !reflect.DeepEqual(tags, []string{"nights", "rally"}) {
		t.Errorf("tags = %v, want nights and rally", got.Tags)
	}
	// Adding a tag the member has changes nothing.
	if code, raw := call(t, "PATCH", url+"/contacts/"+c.ID, map[string]any{"add_tags": []string{"nights"}}, &got); code != http.StatusOK || len(got.Tags) != 2 {
		t.Errorf("add again = %d %s", code, raw)
	}
	for _, bad := range []map[string]any{
		{"add_tags": []string{"x"}, "remove_tags": []string{"X"}},
		{"add_tags": []string{"x"}, "tags": []string{"y"}},
		{"add_tags": []string{strings.Repeat("t", 101)}},
	} {
		if code, raw := call(t, "PATCH", url+"/contacts/"+c.ID, bad, nil); code != http.StatusBadRequest || !strings.Contains(raw, "tag") {
			t.Errorf("patch %v = %d %s, want 400 about tags", bad, code, raw)
		}
	}
}
