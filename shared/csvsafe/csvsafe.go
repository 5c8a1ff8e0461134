// Package csvsafe writes CSV that is safe to open in a spreadsheet. Every
// CSV file Muster hands out (member lists, the consent ledger, import
// reports, RSVPs, signatures, calls) holds text members or importers
// typed, and a cell that a spreadsheet reads as a formula can run it
// ("CSV injection", OWASP). Every export writes through Writer, and every
// importer reads cells through Unneutralize, so a file Muster exported
// imports back unchanged.
package csvsafe

import (
	"encoding/csv"
	"io"
)

// Neutralize makes a cell safe to open in a spreadsheet: one that starts
// with =, +, -, @, a tab or a carriage return would be read as a formula,
// so it gets a leading apostrophe, which spreadsheets read as "this is
// text" and do not show.
//
// This is OWASP's rule applied to every cell, E.164 phone numbers
// included: "+12125550134" is written '+12125550134. A column cannot be
// trusted to hold phones just because its header says so, and a number
// kept as text also keeps its leading +. Anything that reads Muster's
// exports back (the contacts importer does, through Unneutralize) must
// strip the apostrophe.
func Neutralize(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Unneutralize undoes Neutralize, so a file exported by Muster imports
// back unchanged: one apostrophe before a formula character is dropped. A
// cell with an apostrophe before anything else is left as typed.
func Unneutralize(s string) string {
	if len(s) >= 2 && s[0] == '\'' {
		switch s[1] {
		case '=', '+', '-', '@', '\t', '\r':
			return s[1:]
		}
	}
	return s
}

// Writer writes CSV for spreadsheets: a UTF-8 byte order mark first (Excel
// otherwise reads UTF-8 as Windows-1252 and mangles names), CRLF line ends,
// and every cell neutralized, the header included.
type Writer struct {
	w       *csv.Writer
	started bool
	out     io.Writer
	row     []string
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return &Writer{w: cw, out: w}
}

// Write writes one row.
func (w *Writer) Write(cells ...string) error {
	if !w.started {
		w.started = true
		if _, err := io.WriteString(w.out, "\uFEFF"); err != nil {
			return err
		}
	}
	w.row = w.row[:0]
	for _, c := range cells {
		w.row = append(w.row, Neutralize(c))
	}
	return w.w.Write(w.row)
}

// Flush writes buffered rows out; call it every so often while streaming
// so the client sees progress, and at the end. It reports the first error
// any write met.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}
