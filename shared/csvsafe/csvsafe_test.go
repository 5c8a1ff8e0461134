package csvsafe

import (
	"bytes"
	"encoding/csv"
	"reflect"
	"strings"
	"testing"
)

func TestNeutralize(t *testing.T) {
	cases := []struct{ in, want string }{
		{`=HYPERLINK("http://x","y")`, `'=HYPERLINK("http://x","y")`},
		{"=1+2", "'=1+2"},
		{"+12125550134", "'+12125550134"}, // E.164 too: see Neutralize
		{"+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"-", "'-"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"", ""},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{" =1", " =1"}, // spreadsheets do not evaluate a leading space
		{"'=1", "'=1"}, // already text
		{"Ana", "Ana"},
		{"12125550134", "12125550134"},
		{"ana@example.org", "ana@example.org"},
	}
	for _, c := range cases {
		if got := Neutralize(c.in); got != c.want {
			t.Errorf("Neutralize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestUnneutralizeUndoesNeutralize(t *testing.T) {
	for _, s := range []string{`=HYPERLINK("http://x","y")`, "+12125550134", "-1", "@x", "\tx", "\rx", "plain", "", "'", "'quoted", "'+1 typed by hand"} {
		if s == "'+1 typed by hand" {
			// A hand-typed apostrophe before a formula character cannot be
			// told from Muster's: it is dropped, as a spreadsheet would.
			if got := Unneutralize(s); got != "+1 typed by hand" {
				t.Errorf("Unneutralize(%q) = %q", s, got)
			}
			continue
		}
		if got := Unneutralize(Neutralize(s)); got != s {
			t.Errorf("Unneutralize(Neutralize(%q)) = %q", s, got)
		}
	}
	if Unneutralize("'quoted") != "'quoted" {
		t.Error("Unneutralize changed a cell Neutralize never makes")
	}
}

func TestWriterNeutralizesEveryCell(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	cells := []string{`=HYPERLINK("http://x","y")`, "+12125550134", "-1", "@SUM(A1)", "\tx", "\rx", "plain", "", "a=b"}
	if err := w.Write("=header", "ok"); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(cells...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "\uFEFF") || !strings.HasSuffix(out, "\r\n") {
		t.Fatalf("want a BOM and CRLF, got %q", out)
	}
	cr := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\uFEFF")))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatal(err, rows)
	}
	if rows[0][0] != "'=header" {
		t.Errorf("header = %q", rows[0])
	}
	// encoding/csv drops a bare CR inside a cell when it writes CRLF line
	// ends; the apostrophe shows the cell was neutralized first.
	want := []string{`'=HYPERLINK("http://x","y")`, "'+12125550134", "'-1", "'@SUM(A1)", "'\tx", "'x", "plain", "", "a=b"}
	if !reflect.DeepEqual(rows[1], want) {
		t.Errorf("written %q\nwant    %q", rows[1], want)
	}
}
