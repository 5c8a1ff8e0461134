package app_test

import (
	"bytes"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// formula is a cell a spreadsheet would run; every CSV contacts hands out
// must write it as text.
const formula = `=HYPERLINK("http://x","y")`

// getRaw fetches a CSV export as bytes.
func getRaw(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := api().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", u, resp.StatusCode, raw)
	}
	return raw
}

// The import reports quote the importer's own header names, which a file
// can make formulas; the report writes them as text.
func TestImportReportNeutralizesFormulas(t *testing.T) {
	base, _ := start(t)
	file := "First Name," + csvQuote(formula) + "\nAna,not a phone\n"
	code, imp := upload(t, base, `?mapping=`+url.QueryEscape(`{"`+strings.ReplaceAll(formula, `"`, `\"`)+`": "phone"}`), []byte(file))
	if code != http.StatusAccepted {
		t.Fatalf("upload = %d %v", code, imp)
	}
	if done := waitImport(t, base, imp["id"].(string)); done["rejected"] != 1.0 {
		t.Fatalf("import = %v", done)
	}
	rows := getCSV(t, base+"/imports/"+imp["id"].(string)+"/errors.csv")
	if len(rows) != 2 || rows[1][1] != "'"+formula {
		t.Errorf("errors.csv = %q, want the column %q neutralized", rows, formula)
	}
}

// An export imports back unchanged: the importer strips the apostrophe
// the export put before a phone number and a formula.
func TestExportImportsBack(t *testing.T) {
	base, _ := start(t)
	mustCreate(t, base, map[string]any{"first_name": formula, "last_name": "-Ruiz", "phone": "2125550101", "email": "ana@x.org"})
	raw := getRaw(t, base+"/contacts/export.csv")
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\uFEFF")))).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("export = %q, %v", rows, err)
	}
	if !strings.Contains(strings.Join(rows[1], ","), "'"+formula) || !strings.Contains(strings.Join(rows[1], ","), "'+12125550101") {
		t.Fatalf("export row = %q, want the formula and phone neutralized", rows[1])
	}

	other, _ := start(t)
	code, imp := upload(t, other, "?source=contacts.csv", raw)
	if code != http.StatusAccepted {
		t.Fatalf("re-import = %d %v", code, imp)
	}
	if done := waitImport(t, other, imp["id"].(string)); done["state"] != "done" || done["imported"] != 1.0 || done["rejected"] != 0.0 {
		t.Fatalf("re-import = %v", done)
	}
	var list struct{ Contacts []contactJSON }
	call(t, "GET", other+"/contacts", nil, &list)
	if len(list.Contacts) != 1 {
		t.Fatalf("contacts = %+v", list.Contacts)
	}
	c := list.Contacts[0]
	if c.FirstName != formula || c.LastName != "-Ruiz" || c.Phone != "+12125550101" || c.Email != "ana@x.org" {
		t.Errorf("re-imported contact = %+v", c)
	}
}

func csvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
