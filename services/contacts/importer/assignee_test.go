package importer_test

import (
	"strings"
	"testing"

	"github.com/musterhq/muster/services/contacts/importer"
	"github.com/musterhq/muster/services/contacts/store"
)

// TestAssigneeColumn assigns members by an import column: the email of a
// console account in the directory the console passed (any case); an
// email not in it rejects the row with its line, and the rest imports; an
// empty cell leaves the member's assignee as it is; each change is in the
// history with how = import and who ran it.
func TestAssigneeColumn(t *testing.T) {
	e := newEnv(t)
	dir, err := importer.NewDirectory([]importer.Account{
		{ID: "acc-ana", Name: "Ana Ruiz", Email: "Ana@Union.org"},
		{ID: "acc-bo", Name: "Bo Lee", FirstName: "Bobby", Email: "bo@union.org"},
	})
	if err != nil {
		t.Fatal(err)
	}
	data := "Name,Mobile,Assignee\n" +
		"Cy One,2125550201,ana@union.org\n" +
		"Di Two,2125550202, ANA@UNION.ORG \n" +
		"Ed Three,2125550203,\n" +
		"Fay Four,2125550204,ghost@union.org\n"
	r := e.run(data, runOpts{assignees: dir, by: "Olga Organizer"})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := counts(r.imp.ImportCounts), "read=4 new=3 updated=0 unchanged=0 merged=0 rejected=1 opt_outs=0"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	is, ok := r.issue(5, store.IssueRejected)
	if !ok || is.Column != "Assignee" || !strings.Contains(is.Reason, "assignee ghost@union.org is not an organizer, admin or steward") {
		t.Errorf("line 5 = %+v, %v; issues %+v", is, ok, r.issues)
	}
	got := e.query(`SELECT first_name || ' ' || assignee_id || ' ' || assignee_name || ' ' || assignee_first_name FROM contacts ORDER BY phone`)
	want := []string{"Cy acc-ana Ana Ruiz Ana", "Di acc-ana Ana Ruiz Ana", "Ed   "}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("contacts = %q, want %q", got, want)
	}
	history := e.query(`SELECT c.first_name || ' ' || a.assignee_id || ' ' || a.previous_id || '|' || a.source || '|' || a.changed_by
		FROM contact_assignments a JOIN contacts c ON c.id = a.contact_id ORDER BY c.phone, a.id`)
	want = []string{"Cy acc-ana |import|Olga Organizer", "Di acc-ana |import|Olga Organizer"}
	if strings.Join(history, ";") != strings.Join(want, ";") {
		t.Errorf("history = %q, want %q", history, want)
	}

	// Again: Cy moves to Bo (an update), Di's empty cell keeps Ana, Ed is
	// assigned; a repeated assignment writes no history.
	data = "Name,Mobile,Assigned To\n" +
		"Cy One,2125550201,bo@union.org\n" +
		"Di Two,2125550202,\n" +
		"Ed Three,2125550203,ana@union.org\n"
	r = e.run(data, runOpts{assignees: dir, by: "Olga Organizer"})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := counts(r.imp.ImportCounts), "read=3 new=0 updated=2 unchanged=1 merged=0 rejected=0 opt_outs=0"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	got = e.query(`SELECT first_name || ' ' || assignee_id || ' ' || assignee_first_name FROM contacts ORDER BY phone`)
	want = []string{"Cy acc-bo Bobby", "Di acc-ana Ana", "Ed acc-ana Ana"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Errorf("contacts = %q, want %q", got, want)
	}
	list, err := e.store.Assignments(t.Context(), e.query(`SELECT id::text FROM contacts WHERE first_name = 'Cy'`)[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].AssigneeID != "acc-bo" || list[0].PreviousID != "acc-ana" || list[0].Source != store.AssignImport {
		t.Errorf("Cy's history = %+v", list)
	}
	if n := e.count(`SELECT count(*) FROM contact_assignments`); n != 4 {
		t.Errorf("%d history rows, want 4", n)
	}

	// A dry run assigns nothing.
	r = e.run("Mobile,Assignee\n2125550202,bo@union.org\n", runOpts{assignees: dir, dryRun: true})
	if r.err != nil || r.imp.Updated != 1 {
		t.Fatalf("dry run: %v, %+v", r.err, r.imp.ImportCounts)
	}
	if got := e.query(`SELECT assignee_id FROM contacts WHERE phone = '+12125550202'`); got[0] != "acc-ana" {
		t.Errorf("a dry run changed Di's assignee to %q", got[0])
	}
}

// TestAssigneeDirectoryIsChecked refuses a directory entry without an id
// or an email.
func TestAssigneeDirectoryIsChecked(t *testing.T) {
	for _, bad := range [][]importer.Account{{{ID: "x", Name: "No Email"}}, {{Email: "a@b.org", Name: "No Id"}}} {
		if _, err := importer.NewDirectory(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if plan, err := importer.Inspect(strings.NewReader("Phone,Assignee Email\n1,a@b.org\n"), nil); err != nil || plan.Columns[1].Field != importer.FieldAssignee {
		t.Errorf("plan = %+v, %v", plan, err)
	}
}
