package stack_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStackRunsWithTheLocksOn: the whole platform as make run starts it.
// The services refuse a caller without credentials, the member list
// included, while the console, the one caller they trust, reaches every
// one of them.
func TestStackRunsWithTheLocksOn(t *testing.T) {
	st := startConsoleStack(t)
	for _, u := range []string{
		st.ContactsURL + "/contacts/export.csv", st.ContactsURL + "/consent/export.csv",
		st.CampaignsURL + "/campaigns", st.DeliveryURL + "/messages", st.DeliveryURL + "/settings",
	} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials = %d, want 401", u, resp.StatusCode)
		}
	}
	if code := call(t, "contacts", "POST", st.ContactsURL+"/contacts", map[string]any{"first_name": "Ana", "phone": "2125550191", "tags": []string{"locks"}}, nil); code != 201 {
		t.Fatalf("create as a trusted caller = %d", code)
	}
	c := signedIn(t, st)
	// Each page below is served from one service's API, through the
	// console's signed calls.
	for path, want := range map[string]string{
		"/contacts?tag=locks": "Ana",
		"/campaigns":          "",
		"/settings":           "Save settings",
	} {
		resp, err := c.Get(st.ConsoleURL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("console %s = %d, want a page with %q:\n%.300s", path, resp.StatusCode, want, body)
		}
	}
}
