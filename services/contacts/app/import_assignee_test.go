package app_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestImportAssigneeColumnOverHTTP: the console passes POST /imports its
// accounts (assignees) and who runs the import (by) in the query; the
// assignee column is read against them, an unknown email is a line of
// errors.csv and the rest imports; without the accounts a file with an
// assignee column is refused at once, and a form cannot bring its own.
func TestImportAssigneeColumnOverHTTP(t *testing.T) {
	base, _ := start(t)
	file := "Name,Cell,Assignee\n" +
		"Ana Ruiz,2125550301,sam@union.org\n" +
		"Bo Chen,2125550302,SAM@union.org\n" +
		"Cy Okafor,2125550303,nobody@union.org\n"
	dir := `[{"id":"acc-sam","name":"Sam Steward","first_name":"Sam","email":"sam@union.org"}]`
	q := "?" + url.Values{"source": {"a.csv"}, "assignees": {dir}, "by": {"Olga"}}.Encode()
	code, imp := upload(t, base, q, []byte(file))
	if code != http.StatusAccepted {
		t.Fatalf("upload = %d %v", code, imp)
	}
	done := waitImport(t, base, imp["id"].(string))
	if done["state"] != "done" || done["new"] != 2.0 || done["rejected"] != 1.0 {
		t.Fatalf("import = %v", done)
	}
	errs := getCSV(t, base+"/imports/"+imp["id"].(string)+"/errors.csv")
	if len(errs) != 2 || errs[1][0] != "4" || errs[1][1] != "Assignee" || !strings.Contains(errs[1][2], "assignee nobody@union.org is not an organizer, admin or steward") {
		t.Errorf("errors.csv = %q", errs)
	}
	var list struct {
		Contacts []struct {
			ID                string `json:"id"`
			AssigneeID        string `json:"assignee_id"`
			AssigneeFirstName string `json:"assignee_first_name"`
		}
	}
	call(t, "GET", base+"/contacts?assignee_id=acc-sam", nil, &list)
	if len(list.Contacts) != 2 || list.Contacts[0].AssigneeFirstName != "Sam" {
		t.Fatalf("Sam's members = %+v", list.Contacts)
	}
	var h struct {
		Assignments []struct {
			Source    string `json:"source"`
			ChangedBy string `json:"changed_by"`
		}
	}
	call(t, "GET", base+"/contacts/"+list.Contacts[0].ID+"/assignments", nil, &h)
	if history := h.Assignments; len(history) != 1 || history[0].Source != "import" || history[0].ChangedBy != "Olga" {
		t.Errorf("history = %+v", h)
	}

	if code, out := upload(t, base, "", []byte(file)); code != http.StatusBadRequest || out["field"] != "assignees" ||
		!strings.Contains(fmt.Sprint(out["error"]), `column "Assignee" holds assignees`) {
		t.Errorf("without the accounts = %d %v", code, out)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("assignees", dir)
	fw, _ := mw.CreateFormFile("file", "a.csv")
	_, _ = fw.Write([]byte(file))
	_ = mw.Close()
	resp, err := api().Post(base+"/imports", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a form's own assignees = %d, want 400", resp.StatusCode)
	}
}
