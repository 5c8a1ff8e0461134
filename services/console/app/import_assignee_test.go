package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/app"
)

// An import, through the API or the import page, carries contacts the
// directory of accounts members may be assigned to (admins, organizers
// and stewards by email; never a viewer) and who runs it, so a CSV's
// assignee column can be read; a caller cannot bring its own.
func TestImportCarriesTheAssigneeDirectory(t *testing.T) {
	var mu sync.Mutex
	var queries []url.Values
	stand := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPost && r.URL.Path == "/imports" {
			mu.Lock()
			queries = append(queries, r.URL.Query())
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, `{"id": "i1", "state": "queued", "source": "walk.csv"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(stand.Close)
	c := startConsole(t, 100, func(cfg *app.Config) { cfg.ContactsURL = stand.URL })
	ctx := context.Background()
	hash, err := account.HashPassword("steward password 123")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []account.Organizer{
		{Email: "Sam@Muster.test", Name: "Sam Steward", Role: account.RoleSteward, PasswordHash: hash},
		{Email: "viewer@muster.test", Role: account.RoleViewer, PasswordHash: hash},
	} {
		if _, err := c.Store().CreateOrganizer(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	directory := func(q url.Values) map[string]map[string]string {
		t.Helper()
		var list []map[string]string
		if err := json.Unmarshal([]byte(q.Get("assignees")), &list); err != nil {
			t.Fatalf("assignees = %q: %v", q.Get("assignees"), err)
		}
		out := map[string]map[string]string{}
		for _, a := range list {
			out[a["email"]] = a
		}
		return out
	}

	token, err := c.DevAdminToken(ctx, "importer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, c.URL())
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "text/csv"}
	if resp, raw := b.doRaw("POST", "/api/imports?assignees=%5B%5D&by=someone", "phone,assignee\n2125550101,Sam@Muster.test\n", auth); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("API import = %d %s", resp.StatusCode, raw)
	}
	admin := signedIn(t, c)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", admin.csrf)
	fw, _ := mw.CreateFormFile("file", "walk.csv")
	_, _ = fw.Write([]byte("phone,assignee\n2125550101,sam@muster.test\n"))
	_ = mw.Close()
	if resp, raw := admin.doRaw("POST", "/contacts/import", body.String(), map[string]string{"Content-Type": mw.FormDataContentType()}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("form import = %d %s", resp.StatusCode, raw)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 2 {
		t.Fatalf("%d imports reached contacts, want 2", len(queries))
	}
	for i, q := range queries {
		dir := directory(q)
		sam, ok := dir["Sam@Muster.test"]
		if !ok || sam["id"] == "" || sam["name"] != "Sam Steward" || sam["first_name"] != "Sam" {
			t.Errorf("import %d: the steward = %v in %v", i, sam, dir)
		}
		if _, ok := dir[adminEmail]; !ok {
			t.Errorf("import %d: the admin is not in %v", i, dir)
		}
		if _, ok := dir["viewer@muster.test"]; ok {
			t.Errorf("import %d: a viewer may not hold members, yet is in %v", i, dir)
		}
		if len(dir) != 2 {
			t.Errorf("import %d: directory = %v", i, dir)
		}
	}
	if by := queries[0].Get("by"); by != "token importer" {
		t.Errorf("the API import is by %q, want the token", by)
	}
	if by := queries[1].Get("by"); by == "" || by == "someone" {
		t.Errorf("the form import is by %q, want the admin", by)
	}
}
