// Package sheet reads the CSV files organizers trade with spreadsheets.
// The reader streams one record at a time with bounded memory, knows the
// physical line each record starts on, and forgives what Excel and Google
// Sheets produce (a byte order mark, Windows-1252 text, semicolons, CR
// line ends, stray quotes); a record it cannot use comes back with the
// reason rather than ending the file. Exports are written by
// shared/csvsafe, which every service's CSV goes through.
package sheet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Default limits. A field longer than MaxField or a record longer than
// MaxRecord is skipped to its end and reported, never held in memory.
const (
	DefaultMaxField  = 64 << 10
	DefaultMaxRecord = 1 << 20
	DefaultMaxFields = 1000
)

// ErrEmpty is returned for a file with no bytes (or only a byte order mark
// and blank lines).
var ErrEmpty = errors.New("the file is empty")

// NotCSVError says the file is not text at all, naming what it looks like.
type NotCSVError struct{ What string }

func (e *NotCSVError) Error() string {
	return "this is not a CSV file: " + e.What
}

// Record is one CSV record.
type Record struct {
	// Line is the physical line (from 1) the record starts on, counting the
	// lines inside quoted fields, so it matches what an editor shows.
	Line int
	// Fields are the cells, decoded to UTF-8. The slice is reused by the
	// next Read; the strings are not.
	Fields []string
	// Err says why the record cannot be used (a field over the size limit,
	// an unterminated quote). Fields then holds what could be kept.
	Err error
	// Column is the 0-based field Err is about, or -1.
	Column int
}

// Reader reads records. Set the limits before the first Read.
type Reader struct {
	// Comma separates fields; 0 detects it from the first line among
	// comma, semicolon and tab.
	Comma     byte
	MaxField  int
	MaxRecord int
	MaxFields int

	src     io.Reader
	r       *bufio.Reader
	started bool
	line    int // physical line of the next byte
	buf     []byte
	ends    []int
	fields  []string
	sawData bool
	dec     *charmap.Charmap
}

// NewReader reads CSV from r. Call Read until it returns io.EOF.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: r, MaxField: DefaultMaxField, MaxRecord: DefaultMaxRecord, MaxFields: DefaultMaxFields, line: 1, dec: charmap.Windows1252}
}

// Line is the physical line the reader has reached.
func (r *Reader) Line() int { return r.line }

func (r *Reader) start() error {
	r.started = true
	br := bufio.NewReaderSize(r.src, 64<<10)
	head, _ := br.Peek(8 << 10)
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		// Excel's "Unicode text" is UTF-16 with a byte order mark.
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		br = bufio.NewReaderSize(transform.NewReader(br, dec), 64<<10)
	default:
		if err := Sniff(head); err != nil {
			return err
		}
	}
	r.r = br
	if r.Comma == 0 {
		head, _ = br.Peek(8 << 10)
		r.Comma = detectComma(head)
	}
	return nil
}

// Sniff refuses content that is plainly not text: what an organizer
// uploads by mistake is most often a workbook, so it says so.
func Sniff(head []byte) error {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return &NotCSVError{What: "it looks like an Excel workbook or another zip file; save it as CSV first"}
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0}):
		return &NotCSVError{What: "it looks like an old Excel (.xls) workbook; save it as CSV first"}
	case bytes.HasPrefix(head, []byte("%PDF")):
		return &NotCSVError{What: "it is a PDF"}
	}
	control := 0
	for _, b := range head {
		if b == 0 {
			return &NotCSVError{What: "it contains NUL bytes, so it is binary"}
		}
		if b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' {
			control++
		}
	}
	if len(head) > 0 && control*20 > len(head) {
		return &NotCSVError{What: "it is mostly control characters, so it is binary"}
	}
	return nil
}

// detectComma picks the separator that occurs most on the first line,
// outside quotes: Excel writes semicolons where the comma is a decimal mark.
func detectComma(head []byte) byte {
	counts := map[byte]int{}
	inQuote := false
	for _, b := range head {
		if b == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote {
			continue
		}
		if b == '\n' || b == '\r' {
			break
		}
		if b == ',' || b == ';' || b == '\t' {
			counts[b]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

// Read returns the next record, skipping lines that hold nothing but
// separators and spaces. It returns io.EOF after the last record, ErrEmpty
// for a file without a single record, a *NotCSVError for binary content,
// and any other error from the underlying reader.
func (r *Reader) Read() (Record, error) {
	if !r.started {
		if err := r.start(); err != nil {
			return Record{}, err
		}
	}
	for {
		rec, err := r.readRecord()
		if err != nil {
			if err == io.EOF && !r.sawData {
				return Record{}, ErrEmpty
			}
			return Record{}, err
		}
		if rec.Err == nil && blank(rec.Fields) {
			continue
		}
		r.sawData = true
		return rec, nil
	}
}

func blank(fields []string) bool {
	for _, f := range fields {
		for i := 0; i < len(f); i++ {
			if f[i] != ' ' && f[i] != '\t' {
				return false
			}
		}
	}
	return true
}

// readRecord parses one record. Fields are collected in r.buf with their
// end offsets in r.ends; a field over the limit keeps its first MaxField
// bytes and the rest is read and dropped.
func (r *Reader) readRecord() (Record, error) {
	rec := Record{Line: r.line, Column: -1}
	r.buf = r.buf[:0]
	r.ends = r.ends[:0]
	total := 0
	fail := func(col int, err error) {
		if rec.Err == nil {
			rec.Err, rec.Column = err, col
		}
	}
	b, err := r.r.ReadByte()
	if err != nil {
		return Record{}, err
	}
	for {
		// One field starts with b.
		col := len(r.ends)
		size := 0
		keep := col < r.MaxFields
		add := func(c byte) {
			size++
			total++
			if keep && size <= r.MaxField && total <= r.MaxRecord {
				r.buf = append(r.buf, c)
			}
		}
		var end byte // what ended the field: comma, '\n', or 0 at EOF
		if b == '"' {
			quoteLine := r.line
			closed := false
			for !closed {
				c, err := r.r.ReadByte()
				if err == io.EOF {
					fail(col, fmt.Errorf("the quoted field in column %d opened on line %d is never closed", col+1, quoteLine))
					break
				}
				if err != nil {
					return Record{}, err
				}
				switch c {
				case '"':
					next, err := r.r.ReadByte()
					if err == nil && next == '"' {
						add('"')
						continue
					}
					if err == nil {
						_ = r.r.UnreadByte()
					}
					closed = true
				case '\r':
					if next, err := r.r.Peek(1); err == nil && next[0] == '\n' {
						continue // CRLF inside quotes reads as LF
					}
					r.line++
					add('\n')
				case '\n':
					r.line++
					add('\n')
				default:
					add(c)
				}
			}
			// Anything between the closing quote and the separator is kept
			// as typed ("a"b reads as ab), the way spreadsheets forgive it.
			for closed {
				c, err := r.r.ReadByte()
				if err != nil {
					if err != io.EOF {
						return Record{}, err
					}
					break
				}
				if c == r.Comma || c == '\n' || c == '\r' {
					end = r.lineEnd(c)
					break
				}
				add(c)
			}
		} else {
			c := b
			for {
				if c == r.Comma || c == '\n' || c == '\r' {
					end = r.lineEnd(c)
					break
				}
				add(c)
				var err error
				c, err = r.r.ReadByte()
				if err != nil {
					if err != io.EOF {
						return Record{}, err
					}
					break
				}
			}
		}
		if keep {
			r.ends = append(r.ends, len(r.buf))
		}
		switch {
		case !keep:
			fail(r.MaxFields, fmt.Errorf("the record has more than %d columns", r.MaxFields))
		case size > r.MaxField:
			fail(col, fmt.Errorf("column %d is %d bytes long; the limit is %d", col+1, size, r.MaxField))
		case total > r.MaxRecord:
			fail(col, fmt.Errorf("the record is longer than %d bytes", r.MaxRecord))
		}
		if end != r.Comma {
			break // end of line or of file
		}
		b, err = r.r.ReadByte()
		if err != nil && err != io.EOF {
			return Record{}, err
		}
		if err == io.EOF || b == '\n' || b == '\r' {
			// "a," ends with an empty field.
			if err == nil {
				r.lineEnd(b)
			}
			if len(r.ends) < r.MaxFields {
				r.ends = append(r.ends, len(r.buf))
			} else {
				fail(r.MaxFields, fmt.Errorf("the record has more than %d columns", r.MaxFields))
			}
			break
		}
	}
	rec.Fields = r.decode()
	return rec, nil
}

// lineEnd consumes a line break (LF, CRLF or a lone CR, which old Mac
// exports use) and counts it; a separator is returned as is.
func (r *Reader) lineEnd(c byte) byte {
	if c == r.Comma {
		return c
	}
	if c == '\r' {
		if next, err := r.r.Peek(1); err == nil && next[0] == '\n' {
			_, _ = r.r.Discard(1)
		}
	}
	r.line++
	return '\n'
}

// decode turns the collected bytes into strings: UTF-8 when they are valid
// UTF-8, otherwise Windows-1252 (a superset of Latin-1 and what Excel on
// Windows writes), decided per field so one stray byte costs only its cell.
func (r *Reader) decode() []string {
	r.fields = r.fields[:0]
	valid, prev := true, 0
	for _, e := range r.ends {
		// Each cell on its own: a cell ending in half a character can make
		// a whole record look like valid UTF-8 when its halves are not.
		if !utf8.Valid(r.buf[prev:e]) {
			valid = false
			break
		}
		prev = e
	}
	if valid {
		all := string(r.buf)
		prev := 0
		for _, e := range r.ends {
			r.fields = append(r.fields, all[prev:e])
			prev = e
		}
		return r.fields
	}
	prev = 0
	for _, e := range r.ends {
		raw := r.buf[prev:e]
		prev = e
		if utf8.Valid(raw) {
			r.fields = append(r.fields, string(raw))
			continue
		}
		s, err := r.dec.NewDecoder().Bytes(raw)
		if err != nil { // Windows-1252 decodes every byte; kept for safety
			s = bytes.ToValidUTF8(raw, []byte("\uFFFD"))
		}
		r.fields = append(r.fields, string(s))
	}
	return r.fields
}
