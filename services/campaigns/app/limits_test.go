package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// A JSON body over 1 MiB is answered 413 in the JSON error shape, by the
// handlers that decode directly and by those whose body is optional.
func TestTooLargeJSONBodyIs413(t *testing.T) {
	h := newHarness(t, false, nil)
	srv := h.start()
	huge := strings.Repeat("a", 2<<20)
	for _, path := range []string{"/campaigns", "/campaigns/00000000-0000-4000-8000-000000000001/launch"} {
		resp, err := api().Post(srv.url+path, "application/json", strings.NewReader(`{"name":"`+huge+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var eb struct{ Error, Kind, Field string }
		err = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge || eb.Kind != "too_large" || eb.Field != "body" {
			t.Errorf("POST %s = %d %+v (%v), want 413 too_large", path, resp.StatusCode, eb, err)
		}
	}
}
