package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/importer"
	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/services/contacts/sample"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/postgres"
	"github.com/musterhq/muster/shared/testkit"
)

type env struct {
	t     *testing.T
	dsn   string
	store *store.Store
	exec  func(sql string, args ...any) int64
	query func(sql string, args ...any) []string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dsn := testkit.Database(t, migrations.FS)
	return openEnv(t, dsn)
}

func openEnv(t *testing.T, dsn string) *env {
	t.Helper()
	ctx := context.Background()
	pool, err := postgres.Open(ctx, dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &env{t: t, dsn: dsn, store: store.New(pool, testkit.NewClock(t).Now)}
	e.exec = func(sql string, args ...any) int64 {
		t.Helper()
		tag, err := pool.Exec(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		return tag.RowsAffected()
	}
	e.query = func(sql string, args ...any) []string {
		t.Helper()
		rows, err := pool.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	return e
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	fmt.Sscan(e.query(sql, args...)[0], &n)
	return n
}

type runOpts struct {
	mapping   map[string]string
	dryRun    bool
	batchSize int
	onBatch   func(store.ImportCounts)
	ctx       context.Context
	assignees importer.Directory
	by        string
}

type result struct {
	imp    store.Import
	issues []store.ImportIssue
	err    error
}

func (r result) issue(line int64, kind string) (store.ImportIssue, bool) {
	for _, is := range r.issues {
		if is.Line == line && is.Kind == kind {
			return is, true
		}
	}
	return store.ImportIssue{}, false
}

// run imports data the way the runner does: inspect, record, run.
func (e *env) run(data string, o runOpts) result {
	e.t.Helper()
	ctx := o.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	plan, err := importer.Inspect(strings.NewReader(data), o.mapping)
	if err != nil {
		return result{err: err}
	}
	id := importer.NewID()
	mapping, _ := json.Marshal(plan.Columns)
	if err := e.store.CreateImport(context.Background(), store.Import{ID: id, Source: "test.csv", DryRun: o.dryRun, Mapping: mapping, Warnings: plan.Warnings}); err != nil {
		e.t.Fatal(err)
	}
	imp := importer.New(e.store, importer.Options{Region: "US", BatchSize: o.batchSize, OnBatch: o.onBatch}, zaptest.NewLogger(e.t))
	_, runErr := imp.Run(ctx, importer.Job{ID: id, Source: "test.csv", DryRun: o.dryRun, Plan: plan,
		Assignees: o.assignees, By: o.by}, strings.NewReader(data))
	got, err := e.store.GetImport(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	r := result{imp: got, err: runErr}
	for _, kind := range []string{store.IssueRejected, store.IssueMerged} {
		err := e.store.EachImportIssue(context.Background(), id, kind, func(is store.ImportIssue) error {
			r.issues = append(r.issues, is)
			return nil
		})
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return r
}

func counts(c store.ImportCounts) string {
	return fmt.Sprintf("read=%d new=%d updated=%d unchanged=%d merged=%d rejected=%d opt_outs=%d",
		c.Read, c.New, c.Updated, c.Unchanged, c.Merged, c.Rejected, c.OptOuts)
}

type wantIssue struct {
	line   int64
	column string
	says   string
}

// TestBadInput is the table of files organizers really upload: each one
// either is refused as a whole with a clear reason, or imports every good
// row and reports each bad one by the line it starts on, its column and
// why.
func TestBadInput(t *testing.T) {
	huge := strings.Repeat("n", 10<<20)
	cases := []struct {
		name     string
		data     string
		mapping  map[string]string
		refused  string // the whole file is refused saying this
		want     string // counts
		rejected []wantIssue
		check    func(e *env, r result)
	}{
		{name: "empty file", data: "", refused: "the file is empty"},
		{name: "only blank lines", data: "\n\r\n\n", refused: "the file is empty"},
		{name: "header only", data: "First Name,Mobile\n", refused: "header row but no data rows"},
		{name: "no phone or email column", data: "First Name,Shoe Size\nAna,9\n", refused: "no column holds phone numbers or emails"},
		{name: "not CSV at all", data: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", refused: "not a CSV file"},
		{name: "an Excel workbook", data: "PK\x03\x04\x14\x00\x06\x00\x08\x00", refused: "Excel workbook"},
		{name: "mapping names a missing column", data: "Mobile\n2125550101\n", mapping: map[string]string{"Cell": "phone"}, refused: `no column "Cell"`},
		{name: "mapping names an unknown field", data: "Mobile\n2125550101\n", mapping: map[string]string{"Mobile": "fax"}, refused: `"fax" is not a field`},
		{name: "too many columns to keep", data: "Mobile" + strings.Repeat(",x", 120) + "\n2125550101" + strings.Repeat(",1", 120) + "\n", refused: "120 columns would be kept as attributes"},
		{name: "mapping maps two columns to one field", data: "A,B\n2125550101,2125550102\n", mapping: map[string]string{"A": "phone", "B": "phone"}, refused: "both mapped to phone"},
		{
			name:     "ragged rows",
			data:     "First Name,Mobile,Email\nAna,2125550101,ana@x.org\nBo,2125550102\nCy,2125550103,cy@x.org,extra\nDee,2125550104,dee@x.org,\n",
			want:     "read=4 new=2 updated=0 unchanged=0 merged=0 rejected=2 opt_outs=0",
			rejected: []wantIssue{{3, "", "has 2 cells but the header has 3"}, {4, "", "has 4 cells"}},
		},
		{
			name:     "quoted fields with embedded newlines keep physical line numbers",
			data:     "Name,Mobile,Notes\n\"Ana Ruiz\",2125550101,\"first line\nsecond line\nthird\"\nBo,555-CALL-NOW,x\n\"Cy\nOkafor\",2125550103,\n",
			want:     "read=3 new=2 updated=0 unchanged=0 merged=0 rejected=1 opt_outs=0",
			rejected: []wantIssue{{5, "Mobile", "contains letters"}},
			check: func(e *env, r result) {
				if got := e.query(`SELECT attributes->>'notes' FROM contacts WHERE phone = '+12125550101'`); len(got) != 1 || got[0] != "first line\nsecond line\nthird" {
					e.t.Errorf("notes = %q", got)
				}
				if got := e.query(`SELECT first_name || '|' || last_name FROM contacts WHERE phone = '+12125550103'`); len(got) != 1 || got[0] != "Cy|Okafor" {
					e.t.Errorf("name across lines = %q", got)
				}
			},
		},
		{
			name: "UTF-8 byte order mark",
			data: "\xEF\xBB\xBFFirst Name,Mobile\nAna,2125550101\n",
			want: "read=1 new=1 updated=0 unchanged=0 merged=0 rejected=0 opt_outs=0",
			check: func(e *env, r result) {
				if got := e.query(`SELECT first_name FROM contacts`); len(got) != 1 || got[0] != "Ana" {
					e.t.Errorf("first name = %q (the BOM hid the header)", got)
				}
			},
		},
		{
			name: "Latin-1 (Windows-1252) bytes",
			data: "First Name,Last Name,Mobile\nJos\xE9,Pe\xF1a,2125550101\nZo\xEB,M\xFCller \x96 Smith,2125550102\n",
			want: "read=2 new=2 updated=0 unchanged=0 merged=0 rejected=0 opt_outs=0",
			check: func(e *env, r result) {
				got := e.query(`SELECT first_name || ' ' || last_name FROM contacts ORDER BY phone`)
				if len(got) != 2 || got[0] != "José Peña" || got[1] != "Zoë Müller – Smith" {
					e.t.Errorf("names = %q", got)
				}
			},
		},
		{
			name:     "a 10 MB field rejects its row only",
			data:     "First Name,Mobile,Notes\nAna,2125550101,short\nBo,2125550102,\"" + huge + "\"\nCy,2125550103,ok\n",
			want:     "read=3 new=2 updated=0 unchanged=0 merged=0 rejected=1 opt_outs=0",
			rejected: []wantIssue{{3, "Notes", "10485760 bytes long"}},
		},
		{
			name: "duplicate header names keep both columns",
			data: "First Name,Phone,Phone,Email\nAna,2125550101,2125550199,ana@x.org\n",
			want: "read=1 new=1 updated=0 unchanged=0 merged=0 rejected=0 opt_outs=0",
			check: func(e *env, r result) {
				if got := e.query(`SELECT phone || '|' || (attributes->>'phone') FROM contacts`); len(got) != 1 || got[0] != "+12125550101|2125550199" {
					e.t.Errorf("phone|second phone column = %q", got)
				}
				if len(r.imp.Warnings) == 0 || !strings.Contains(strings.Join(r.imp.Warnings, " "), `column 3 repeats the header "Phone"`) {
					e.t.Errorf("warnings = %q", r.imp.Warnings)
				}
			},
		},
		{
			name:     "a phone number with letters",
			data:     "First Name,Mobile\nAna,2125550101\nBo,(212) 555-CALL\n",
			want:     "read=2 new=1 updated=0 unchanged=0 merged=0 rejected=1 opt_outs=0",
			rejected: []wantIssue{{3, "Mobile", `phone: "(212) 555-CALL" contains letters`}},
		},
		{
			name:     "an email without a domain, and other field errors, all reported",
			data:     "First Name,Mobile,E-mail,Time Zone\nAna,2125550101,ana@,America/New_York\nBo,,bo@x.org,Mars/Olympus\nCy,,,\n",
			want:     "read=3 new=0 updated=0 unchanged=0 merged=0 rejected=3 opt_outs=0",
			rejected: []wantIssue{{2, "E-mail", `email: "ana@" has no domain`}, {3, "Time Zone", "not an IANA time zone"}, {4, "Mobile", "needs a phone number or an email"}},
		},
		{
			name:     "an unterminated quote is reported where it opened",
			data:     "First Name,Mobile\nAna,2125550101\nBo,\"2125550102\nCy,2125550103\n",
			want:     "read=2 new=1 updated=0 unchanged=0 merged=0 rejected=1 opt_outs=0",
			rejected: []wantIssue{{3, "Mobile", "opened on line 3 is never closed"}},
		},
		{
			name: "spreadsheet apostrophes from our own export are undone",
			data: "First Name,Mobile,Tags\nAna,'+12125550101,'-leading dash\n",
			want: "read=1 new=1 updated=0 unchanged=0 merged=0 rejected=0 opt_outs=0",
			check: func(e *env, r result) {
				if got := e.query(`SELECT phone || '|' || array_to_string(tags, ',') FROM contacts`); len(got) != 1 || got[0] != "+12125550101|-leading dash" {
					e.t.Errorf("phone|tags = %q", got)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.refused != "" {
				// Refused before anything is recorded: no database needed.
				_, err := importer.Inspect(strings.NewReader(c.data), c.mapping)
				if err == nil || apperr.KindOf(err) != apperr.KindInvalid || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("err = %v, want an invalid error saying %q", err, c.refused)
				}
				return
			}
			e := newEnv(t)
			r := e.run(c.data, runOpts{mapping: c.mapping})
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got := counts(r.imp.ImportCounts); got != c.want || r.imp.State != store.ImportDone {
				t.Fatalf("%s: %s, want %s", r.imp.State, got, c.want)
			}
			if n := e.count(`SELECT count(*) FROM contacts`); int64(n) != r.imp.New {
				t.Errorf("%d contacts stored, import says %d new", n, r.imp.New)
			}
			var rejected []store.ImportIssue
			for _, is := range r.issues {
				if is.Kind == store.IssueRejected {
					rejected = append(rejected, is)
				}
			}
			if len(rejected) != len(c.rejected) {
				t.Fatalf("report = %+v, want %d rejections", rejected, len(c.rejected))
			}
			for i, w := range c.rejected {
				g := rejected[i]
				if g.Line != w.line || g.Column != w.column || !strings.Contains(g.Reason, w.says) {
					t.Errorf("report line %d = %+v, want line %d column %q saying %q", i, g, w.line, w.column, w.says)
				}
			}
			if c.check != nil {
				c.check(e, r)
			}
		})
	}
}

// TestDedupeWithinTheFileAndAgainstContacts checks the matching order
// (member id, then phone, then email), merges within the file and with
// existing contacts, and the rows refused because they would need two
// contacts merged.
func TestDedupeWithinTheFileAndAgainstContacts(t *testing.T) {
	for _, batch := range []int{1000, 2} { // one batch, and merges across batches
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			create := func(d contact.Draft) string {
				c, err := d.Normalize("US")
				if err != nil {
					t.Fatal(err)
				}
				c, err = e.store.Create(ctx, c, "")
				if err != nil {
					t.Fatal(err)
				}
				return c.ID
			}
			byMember := create(contact.Draft{MemberID: "M1", FirstName: "Ana", Phone: "2125550101", Tags: []string{"old"}})
			byEmail := create(contact.Draft{FirstName: "Eve", Email: "eve@x.org"})
			other := create(contact.Draft{FirstName: "Oz", Phone: "2125550109"})
			unchanged := create(contact.Draft{FirstName: "Una", LastName: "Same", Phone: "2125550120"})
			data := strings.Join([]string{
				"Member ID,First Name,Last Name,Mobile,Email,Tags",
				"M1,Ana,Ruiz,(212) 555-0111,,steward", // 2: existing M1; its phone changes
				"M2,Bo,Chen,2125550102,bo@x.org,",     // 3: new
				",Bo,,212.555.0102,,night-shift",      // 4: same phone as line 3
				",,,,BO@X.ORG,rally",                  // 5: same email as line 3
				",Eve,Park,2125550105,Eve@X.org,",     // 6: existing by email, gains a phone
				"M3,Cy,,2125550109,,",                 // 7: phone of Oz, who has no member id: Oz gains M3 (and the file's name)
				"M2,Bo,,2125550120,,",                 // 8: M2 is line 3's, phone is Una's: refused
				",Una,Same,2125550120,,",              // 9: unchanged
				"M9,Zed,,2125550102,,",                // 10: phone of M2's contact, member id differs: refused
				",Ana,,,ana@x.org,",                   // 11: new (email only)
				"M1,,,,ana@x.org,",                    // 12: M1, but ana@x.org is line 11's: refused
			}, "\n") + "\n"
			r := e.run(data, runOpts{batchSize: batch})
			if r.err != nil {
				t.Fatal(r.err)
			}
			if got, want := counts(r.imp.ImportCounts), "read=11 new=2 updated=3 unchanged=1 merged=2 rejected=3 opt_outs=0"; got != want {
				t.Fatalf("%s\nwant %s\nreport %+v", got, want, r.issues)
			}
			for _, w := range []struct {
				line int64
				kind string
				says string
			}{
				{4, store.IssueMerged, "same phone as line 3"},
				{5, store.IssueMerged, "same email as line 3"},
				{8, store.IssueRejected, "phone +12125550120 belongs to existing contact " + unchanged},
				{10, store.IssueRejected, "member id M9 differs from member id M2 of the contact from line 3"},
				{12, store.IssueRejected, "email ana@x.org belongs to the contact from line 11"},
			} {
				is, ok := r.issue(w.line, w.kind)
				if !ok || !strings.Contains(is.Reason, w.says) {
					t.Errorf("line %d: %+v, want %s saying %q", w.line, is, w.kind, w.says)
				}
			}
			check := func(id, want string) {
				t.Helper()
				got := e.query(`SELECT concat_ws('|', coalesce(member_id, '-'), first_name, last_name, coalesce(phone, '-'), coalesce(email, '-'), array_to_string(tags, ','))
					FROM contacts WHERE id = $1::uuid`, id)
				if len(got) != 1 || got[0] != want {
					t.Errorf("contact = %q, want %q", got, want)
				}
			}
			check(byMember, "M1|Ana|Ruiz|+12125550111|-|old,steward")
			check(byEmail, "-|Eve|Park|+12125550105|eve@x.org|")
			check(other, "M3|Cy||+12125550109|-|")
			check(unchanged, "-|Una|Same|+12125550120|-|")
			bo := e.query(`SELECT id::text FROM contacts WHERE member_id = 'M2'`)
			if len(bo) != 1 {
				t.Fatalf("M2 = %v", bo)
			}
			check(bo[0], "M2|Bo|Chen|+12125550102|bo@x.org|night-shift,rally")
			if n := e.count(`SELECT count(*) FROM contacts`); n != 6 {
				t.Errorf("%d contacts, want 6", n)
			}
		})
	}
}

// TestImportIsIdempotentAfterStoppingHalfWay stops an import after three
// batches (the context cancelled, as a shutdown does), then runs the whole
// file again: every row is there exactly once, and the counts say which
// run did what.
func TestImportIsIdempotentAfterStoppingHalfWay(t *testing.T) {
	e := newEnv(t)
	var buf bytes.Buffer
	if err := sample.Write(&buf, 0, 1000); err != nil {
		t.Fatal(err)
	}
	data := buf.String()
	ctx, cancel := context.WithCancel(context.Background())
	batches := 0
	first := e.run(data, runOpts{ctx: ctx, batchSize: 100, onBatch: func(store.ImportCounts) {
		batches++
		// Progress is visible to any reader while the import runs.
		ids := e.query(`SELECT id::text FROM imports WHERE state = 'running'`)
		if len(ids) != 1 {
			t.Fatalf("running imports = %v", ids)
		}
		imp, err := e.store.GetImport(context.Background(), ids[0])
		if err != nil || imp.State != store.ImportRunning || imp.Read != int64(batches*100) || imp.Imported != int64(batches*100) {
			t.Errorf("after %d batches: %s, %s, %v", batches, imp.State, counts(imp.ImportCounts), err)
		}
		if batches == 3 {
			cancel()
		}
	}})
	if !errors.Is(first.err, context.Canceled) || first.imp.State != store.ImportInterrupted {
		t.Fatalf("first run: %v, state %s", first.err, first.imp.State)
	}
	if got, want := counts(first.imp.ImportCounts), "read=300 new=300 updated=0 unchanged=0 merged=0 rejected=0 opt_outs=0"; got != want {
		t.Fatalf("first run: %s, want %s", got, want)
	}
	if n := e.count(`SELECT count(*) FROM contacts`); n != 300 {
		t.Fatalf("%d contacts after three batches, want 300", n)
	}
	second := e.run(data, runOpts{batchSize: 100})
	if second.err != nil || second.imp.State != store.ImportDone {
		t.Fatalf("second run: %v, %s", second.err, second.imp.State)
	}
	if got, want := counts(second.imp.ImportCounts), "read=1000 new=700 updated=0 unchanged=300 merged=0 rejected=0 opt_outs=0"; got != want {
		t.Fatalf("second run: %s, want %s", got, want)
	}
	assertEachSampleRowOnce(t, e, 1000)
}

func assertEachSampleRowOnce(t *testing.T, e *env, n int) {
	t.Helper()
	if got := e.count(`SELECT count(*) FROM contacts`); got != n {
		t.Fatalf("%d contacts, want %d", got, n)
	}
	if got := e.count(`SELECT count(DISTINCT member_id) FROM contacts WHERE member_id IS NOT NULL AND phone IS NOT NULL AND email IS NOT NULL`); got != n {
		t.Fatalf("%d distinct complete members, want %d", got, n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		got := e.query(`SELECT phone || '|' || email FROM contacts WHERE member_id = $1`, sample.MemberID(i))
		if len(got) != 1 || got[0] != sample.Phone(i)+"|"+sample.Email(i) {
			t.Errorf("member %d = %q", i, got)
		}
	}
}

// TestDryRunCommitsNothing previews a file against existing contacts: the
// counts (a later row merging into an earlier new one included) are those
// the real import then reports, and nothing was written in between.
func TestDryRunCommitsNothing(t *testing.T) {
	e := newEnv(t)
	data := "Member ID,Name,Mobile,Do Not Text\nM1,Ana Ruiz,2125550101,yes\nM2,Bo Chen,2125550102,\nM2,Bo Chen,2125550102,\nM3,Cy,555-CALL,\n"
	first := e.run("Member ID,Mobile\nM1,2125550101\n", runOpts{})
	if first.err != nil {
		t.Fatal(first.err)
	}
	// The first import left its new contact's opt-in evidence.
	if n := e.count(`SELECT count(*) FROM consent_ledger WHERE change = 'subscribed' AND source = 'import'`); n != 1 {
		t.Fatalf("the first import left %d opt-in evidence entries, want 1", n)
	}
	for _, batch := range []int{1, 1000} {
		dry := e.run(data, runOpts{dryRun: true, batchSize: batch})
		if dry.err != nil || dry.imp.State != store.ImportDone || !dry.imp.DryRun {
			t.Fatalf("dry run: %v %s", dry.err, dry.imp.State)
		}
		if got, want := counts(dry.imp.ImportCounts), "read=4 new=1 updated=1 unchanged=0 merged=1 rejected=1 opt_outs=1"; got != want {
			t.Fatalf("dry run (batch %d): %s, want %s", batch, got, want)
		}
		if _, ok := dry.issue(5, store.IssueRejected); !ok {
			t.Errorf("dry run report = %+v, want line 5 rejected", dry.issues)
		}
	}
	if n := e.count(`SELECT count(*) FROM contacts`); n != 1 {
		t.Fatalf("a dry run left %d contacts", n)
	}
	if n := e.count(`SELECT count(*) FROM consent_ledger`) + e.count(`SELECT count(*) FROM outbox`); n != 1 {
		t.Fatalf("a dry run left %d consent records besides the first import's evidence", n-1)
	}
	real := e.run(data, runOpts{})
	if got, want := counts(real.imp.ImportCounts), "read=4 new=1 updated=1 unchanged=0 merged=1 rejected=1 opt_outs=1"; got != want {
		t.Fatalf("real run: %s, want %s", got, want)
	}
}

// TestReimportNeverResubscribes opts addresses out every way there is (a
// member's STOP, a bounce, an organizer), then imports the same people
// again, with "subscribed" and "no" in every consent-looking column: no
// opt-out is lifted and the ledger gains nothing.
func TestReimportNeverResubscribes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	data := "Member ID,Mobile,Email,SMS Consent,Email Consent,Do Not Text,Unsubscribed\n" +
		"M1,2125550101,ana@x.org,subscribed,subscribed,no,no\n" +
		"M2,2125550102,bo@x.org,subscribed,subscribed,no,no\n"
	if r := e.run(data, runOpts{}); r.err != nil || r.imp.New != 2 {
		t.Fatalf("first import: %v %+v", r.err, r.imp)
	}
	now := time.Now().UTC()
	for _, ev := range []events.ConsentChanged{
		{Channel: events.ChannelSMS, Address: "+12125550101", Change: events.ConsentOptedOut, Source: events.SourceInboundSMS, Evidence: "STOP"},
		{Channel: events.ChannelEmail, Address: "ana@x.org", Change: events.ConsentBounced, Source: events.SourceProvider, Evidence: "bounce"},
		{Channel: events.ChannelSMS, Address: "+12125550102", Change: events.ConsentOptedOut, Source: events.SourceOrganizer, Evidence: "organizer: Sam"},
	} {
		ev.Meta = events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", now)
		ev.At = now
		if _, err := e.store.ApplyConsent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	ledger := e.count(`SELECT count(*) FROM consent_ledger`)
	for range 2 {
		r := e.run(data, runOpts{})
		if r.err != nil || r.imp.Rejected != 0 {
			t.Fatalf("re-import: %v %+v %+v", r.err, r.imp, r.issues)
		}
	}
	for _, c := range []struct{ ch, addr string }{{"sms", "+12125550101"}, {"email", "ana@x.org"}, {"sms", "+12125550102"}} {
		if got, _ := e.store.ConsentStatus(ctx, events.Channel(c.ch), c.addr); got != consent.OptedOut {
			t.Errorf("%s %s is %s after re-import", c.ch, c.addr, got)
		}
	}
	if n := e.count(`SELECT count(*) FROM consent_ledger`); n != ledger {
		t.Errorf("re-import changed the ledger from %d to %d entries", ledger, n)
	}
}

// TestOptOutColumnIsRecordedOnce records opt-outs read from a file with
// their evidence, honours one on a row rejected for another reason, and
// records nothing again on a second import.
func TestOptOutColumnIsRecordedOnce(t *testing.T) {
	e := newEnv(t)
	data := "Name,Mobile,Email,Do Not Text,Opt Out\n" +
		"Ana,2125550101,ana@x.org,yes,\n" +
		"Bo,2125550102,bo@x.org,no,\n" +
		"Cy,2125550103,cy@,Y,\n" + // bad email, valid phone: the opt-out still counts
		"Dee,2125550104,dee@x.org,,x\n" + // both channels
		"Eli,2125550105,,maybe,\n" // neither yes nor no: refused
	r := e.run(data, runOpts{})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got, want := counts(r.imp.ImportCounts), "read=5 new=3 updated=0 unchanged=0 merged=0 rejected=2 opt_outs=4"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
	got := e.query(`SELECT channel || ' ' || address || ' ' || source FROM consent WHERE status = 'opted_out' ORDER BY 1`)
	want := []string{"email dee@x.org import", "sms +12125550101 import", "sms +12125550103 import", "sms +12125550104 import"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("opted out = %q, want %q", got, want)
	}
	ev := e.query(`SELECT evidence FROM consent_ledger WHERE address = '+12125550103'`)
	if len(ev) != 1 || !strings.Contains(ev[0], `"test.csv", line 4, column "Do Not Text": "Y"`) {
		t.Errorf("evidence = %q", ev)
	}
	if n := e.count(`SELECT count(*) FROM outbox`); n != 4 {
		t.Errorf("%d events queued for delivery, want 4", n)
	}
	if is, ok := r.issue(6, store.IssueRejected); !ok || is.Column != "Do Not Text" || !strings.Contains(is.Reason, `"maybe" is not yes or no`) {
		t.Errorf("line 6 = %+v", is)
	}
	// Each new contact's addresses carry their opt-in evidence: the file
	// and the line (Ana, Bo and Dee: a phone and an email each).
	evidence := e.query(`SELECT address || ' ' || evidence FROM consent_ledger WHERE change = 'subscribed' AND source = 'import' ORDER BY 1`)
	if len(evidence) != 6 || !strings.HasSuffix(evidence[0], `of "test.csv", line 2`) {
		t.Errorf("opt-in evidence = %q", evidence)
	}
	again := e.run(data, runOpts{})
	if again.imp.OptOuts != 0 || e.count(`SELECT count(*) FROM consent_ledger`) != 10 {
		t.Errorf("second import recorded %d opt-outs; ledger has %d entries, want the 4 opt-outs and 6 opt-in evidence entries", again.imp.OptOuts, e.count(`SELECT count(*) FROM consent_ledger`))
	}
}

// TestInspectPlansColumns checks header guessing, the organizer's
// mapping, and the warnings.
func TestInspectPlansColumns(t *testing.T) {
	data := "First,Surname,Cell Phone,E-Mail Address,Site,Dept,Job Title,Shift,Preferred Language,Member #,Labels,TZ,Unit,Mobile,\n1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
	plan, err := importer.Inspect(strings.NewReader(data), map[string]string{"Unit": "attributes.Ward", "#15": "ignore"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range plan.Columns {
		got = append(got, c.Field)
	}
	want := []string{"first_name", "last_name", "phone", "email", "attributes.worksite", "attributes.department", "attributes.role",
		"attributes.shift", "language", "member_id", "tags", "time_zone", "attributes.ward", "attributes.mobile", "ignore"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields = %v\nwant     %v", got, want)
	}
	if w := strings.Join(plan.Warnings, " "); !strings.Contains(w, `column 14 "Mobile" looks like phone, but column 3 "Cell Phone" already is`) {
		t.Errorf("warnings = %q", plan.Warnings)
	}
}

// TestKilledImportRerunsWithoutDuplicates kills (SIGKILL) a process in
// the middle of an import, after it committed two batches, then imports
// the whole file again: every row is there exactly once.
func TestKilledImportRerunsWithoutDuplicates(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "members.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sample.Write(f, 0, 1000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestImportChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONTACTS_IMPORT_CHILD_DSN="+e.dsn, "CONTACTS_IMPORT_CHILD_FILE="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	// The child stops for good once two batches committed; wait for that
	// (the deadline only keeps a broken child from hanging the test).
	deadline := time.Now().Add(time.Minute)
	for e.count(`SELECT coalesce(max(rows_read), 0) FROM imports`) < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the child never committed two batches:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	if n := e.count(`SELECT count(*) FROM contacts`); n != 200 {
		t.Fatalf("%d contacts after the kill, want the two batches' 200", n)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	again := e.run(string(data), runOpts{batchSize: 100})
	if again.err != nil {
		t.Fatal(again.err)
	}
	if got, want := counts(again.imp.ImportCounts), "read=1000 new=800 updated=0 unchanged=200 merged=0 rejected=0 opt_outs=0"; got != want {
		t.Fatalf("re-run: %s, want %s", got, want)
	}
	assertEachSampleRowOnce(t, e, 1000)
}

// TestImportChild is the process TestKilledImportRerunsWithoutDuplicates
// kills; it is skipped unless that test started it. It imports in
// batches of 100 and, after two, waits to be killed.
func TestImportChild(t *testing.T) {
	dsn := os.Getenv("CONTACTS_IMPORT_CHILD_DSN")
	if dsn == "" {
		t.Skip("run by TestKilledImportRerunsWithoutDuplicates")
	}
	e := openEnv(t, dsn)
	data, err := os.ReadFile(os.Getenv("CONTACTS_IMPORT_CHILD_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	batches := 0
	e.run(string(data), runOpts{batchSize: 100, onBatch: func(store.ImportCounts) {
		if batches++; batches == 2 {
			select {} // killed here
		}
	}})
	t.Fatal("the import ended; it should have been killed")
}
