package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A JSON body over 1 MiB is answered 413 in the JSON error shape.
func TestTooLargeJSONBodyIs413(t *testing.T) {
	base, _ := start(t)
	huge := `{"first_name":"` + strings.Repeat("a", 2<<20) + `","phone":"2125550101"}`
	resp, err := api().Post(base+"/contacts", "application/json", strings.NewReader(huge))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb struct{ Error, Kind, Field string }
	if err := json.NewDecoder(resp.Body).Decode(&eb); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || eb.Kind != "too_large" {
		t.Fatalf("oversized create = %d %+v (%v), want 413 too_large", resp.StatusCode, eb, err)
	}
	var list struct{ Contacts []contactJSON }
	call(t, "GET", base+"/contacts", nil, &list)
	if len(list.Contacts) != 0 {
		t.Errorf("an oversized create wrote %d contacts", len(list.Contacts))
	}
}
