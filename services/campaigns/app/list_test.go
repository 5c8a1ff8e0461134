package app_test

import (
	"net/url"
	"testing"
)

// The campaign list pages newest first by (created_at, id): every
// campaign once, in order, however many share a creation time, and a
// position this list did not give out is the caller's 400.
func TestCampaignListPages(t *testing.T) {
	h := newHarness(t, false, nil)
	srv := h.start()
	made := map[string]bool{}
	for i := range 5 {
		made[create(t, srv.url, map[string]any{"name": "C" + itoa(i), "body": "Hi {{first_name}}", "audience": map[string]string{"tag": "rally"}})] = true
	}
	seen := map[string]bool{}
	after, pages := "", 0
	for {
		var page struct {
			Campaigns []campaignOut `json:"campaigns"`
			Next      string        `json:"next"`
		}
		if code := call(t, "GET", srv.url+"/campaigns?limit=2&after="+url.QueryEscape(after), nil, &page); code != 200 {
			t.Fatalf("page %d = %d", pages, code)
		}
		pages++
		for _, c := range page.Campaigns {
			if seen[c.ID] {
				t.Fatalf("campaign %s on two pages", c.ID)
			}
			seen[c.ID] = true
		}
		if page.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("the list never ends")
		}
		after = page.Next
	}
	if len(seen) != len(made) || pages != 3 {
		t.Fatalf("saw %d campaigns in %d pages, want %d in 3", len(seen), pages, len(made))
	}
	var e errOut
	if code := call(t, "GET", srv.url+"/campaigns?after=yesterday", nil, &e); code != 400 || e.Field != "after" {
		t.Fatalf("a made-up position = %d %+v, want 400 on after", code, e)
	}
}
