package sheet

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// readAll reads every record of s, stopping at the first error.
func readAll(t *testing.T, r *Reader) ([]Record, error) {
	t.Helper()
	var out []Record
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec.Fields = append([]string(nil), rec.Fields...)
		out = append(out, rec)
	}
}

type want struct {
	line   int
	fields []string
	bad    string // part of the record's error, "" for none
}

func TestReader(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	cases := []struct {
		name string
		in   string
		want []want
		err  string // part of the error Read returns, "" for none
	}{
		{name: "plain", in: "a,b\n1,2\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1", "2"}, ""}}},
		{name: "no final newline", in: "a,b\n1,2", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1", "2"}, ""}}},
		{name: "crlf", in: "a,b\r\n1,2\r\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1", "2"}, ""}}},
		{name: "lone cr (old mac)", in: "a,b\r1,2\r", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1", "2"}, ""}}},
		{name: "utf-8 bom", in: "\xEF\xBB\xBFname,phone\nAna,1\n", want: []want{{1, []string{"name", "phone"}, ""}, {2, []string{"Ana", "1"}, ""}}},
		{name: "utf-16 with bom", in: "\xFF\xFEa\x00,\x00b\x00\n\x001\x00,\x00\xE9\x00\n\x00",
			want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1", "é"}, ""}}},
		{name: "windows-1252 bytes", in: "name\nJos\xE9 \x93Pepe\x94\n", want: []want{{1, []string{"name"}, ""}, {2, []string{"José “Pepe”"}, ""}}},
		{name: "mixed utf-8 and latin-1 cells", in: "a,b\nJosé,Jos\xE9\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"José", "José"}, ""}}},
		{name: "quoted newline keeps physical lines", in: "a,b\n\"line one\nline two\",x\nnext,y\n",
			want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"line one\nline two", "x"}, ""}, {4, []string{"next", "y"}, ""}}},
		{name: "quoted crlf reads as lf", in: "a\r\n\"1\r\n2\"\r\nz\r\n", want: []want{{1, []string{"a"}, ""}, {2, []string{"1\n2"}, ""}, {4, []string{"z"}, ""}}},
		{name: "escaped quotes and separators", in: "a,b\n\"say \"\"hi\"\", ok\",2\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{`say "hi", ok`, "2"}, ""}}},
		{name: "stray quote inside a bare cell", in: "a,b\n5\" tall,2\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{`5" tall`, "2"}, ""}}},
		{name: "text after closing quote", in: "a\n\"x\"y\n", want: []want{{1, []string{"a"}, ""}, {2, []string{"xy"}, ""}}},
		{name: "blank and separator-only lines skipped", in: "a,b\n\n,\n  ,\t\n1,2\n", want: []want{{1, []string{"a", "b"}, ""}, {5, []string{"1", "2"}, ""}}},
		{name: "ragged rows come back as they are", in: "a,b,c\n1,2\n1,2,3,4\n", want: []want{{1, []string{"a", "b", "c"}, ""}, {2, []string{"1", "2"}, ""}, {3, []string{"1", "2", "3", "4"}, ""}}},
		{name: "trailing separator is an empty cell", in: "a,b,\n1,2,\n", want: []want{{1, []string{"a", "b", ""}, ""}, {2, []string{"1", "2", ""}, ""}}},
		{name: "semicolons detected", in: "a;b\n1,5;2\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1,5", "2"}, ""}}},
		{name: "tabs detected", in: "a\tb\n1\t2\n", want: []want{{1, []string{"a", "b"}, ""}, {2, []string{"1", "2"}, ""}}},
		{name: "10 MB field rejected, reading goes on", in: "a,b\n1,\"" + big + "\"\n3,4\n",
			want: []want{{1, []string{"a", "b"}, ""}, {2, nil, "column 2 is 10485760 bytes long"}, {3, []string{"3", "4"}, ""}}},
		{name: "10 MB bare field", in: "a\n" + big + "\nok\n", want: []want{{1, []string{"a"}, ""}, {2, nil, "column 1 is 10485760 bytes long"}, {3, []string{"ok"}, ""}}},
		{name: "unterminated quote", in: "a,b\n1,\"open\n2,3\n", want: []want{{1, []string{"a", "b"}, ""}, {2, nil, "opened on line 2 is never closed"}}},
		{name: "empty file", in: "", err: "empty"},
		{name: "only a bom and blank lines", in: "\xEF\xBB\xBF\n\n", err: "empty"},
		{name: "binary", in: "\x00\x01\x02\x03garbage", err: "NUL bytes"},
		{name: "xlsx", in: "PK\x03\x04\x14\x00\x06\x00", err: "Excel workbook"},
		{name: "mostly control bytes", in: strings.Repeat("\x01\x02\x03a", 100), err: "control characters"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := readAll(t, NewReader(strings.NewReader(c.in)))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d records %+v, want %d", len(got), summarize(got), len(c.want))
			}
			for i, w := range c.want {
				g := got[i]
				if g.Line != w.line {
					t.Errorf("record %d starts on line %d, want %d", i, g.Line, w.line)
				}
				if w.bad != "" {
					if g.Err == nil || !strings.Contains(g.Err.Error(), w.bad) {
						t.Errorf("record %d error = %v, want one saying %q", i, g.Err, w.bad)
					}
					continue
				}
				if g.Err != nil || !reflect.DeepEqual(g.Fields, w.fields) {
					t.Errorf("record %d = %q (err %v), want %q", i, g.Fields, g.Err, w.fields)
				}
			}
		})
	}
}

func summarize(recs []Record) []string {
	var out []string
	for _, r := range recs {
		s := strings.Join(r.Fields, "|")
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		out = append(out, s)
	}
	return out
}

// TestReaderBoundsMemory reads a record far larger than the limits and
// checks that what it kept is bounded.
func TestReaderBoundsMemory(t *testing.T) {
	r := NewReader(strings.NewReader("h\n" + strings.Repeat("y", 5<<20) + "\n"))
	r.MaxField, r.MaxRecord = 1024, 4096
	if _, err := r.Read(); err != nil {
		t.Fatal(err)
	}
	rec, err := r.Read()
	if err != nil || rec.Err == nil {
		t.Fatalf("rec = %v, %v", rec.Err, err)
	}
	if cap(r.buf) > 64<<10 {
		t.Fatalf("reader kept %d bytes for a record it refused", cap(r.buf))
	}
}

// FuzzReader feeds arbitrary bytes to the reader: it must never panic or
// loop, must keep every cell valid UTF-8 and within the limits, and must
// number lines so they only move forward.
func FuzzReader(f *testing.F) {
	for _, s := range []string{"a,b\n1,2\n", "\"a\nb\",c\r\n", "x;y\n1;2", "\xEF\xBB\xBFa\n\xE9\n", "\"open", "a,\"b\"c,d\n", "\xFF\xFEa\x00", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.MaxField, r.MaxRecord, r.MaxFields = 64, 256, 16
		last := 0
		for i := 0; i < len(data)+2; i++ {
			rec, err := r.Read()
			if err != nil {
				return
			}
			if rec.Line <= last {
				t.Fatalf("record %d starts on line %d after line %d", i, rec.Line, last)
			}
			last = rec.Line
			if len(rec.Fields) > r.MaxFields {
				t.Fatalf("%d fields, limit %d", len(rec.Fields), r.MaxFields)
			}
			for _, f := range rec.Fields {
				if !utf8.ValidString(f) {
					t.Fatalf("cell %q is not UTF-8", f)
				}
				if len(f) > 4*r.MaxField { // Windows-1252 bytes may grow to 3 UTF-8 bytes
					t.Fatalf("cell of %d bytes, limit %d", len(f), r.MaxField)
				}
			}
		}
		t.Fatalf("more records than bytes in %q", data)
	})
}
