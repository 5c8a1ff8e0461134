package testkit

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// databaseClock matches PostgreSQL's ways of reading its own clock.
var databaseClock = regexp.MustCompile(`(?i)\b(?:now\s*\(\s*\)|(?:current_timestamp|current_date|current_time|localtimestamp|localtime|clock_timestamp|statement_timestamp|transaction_timestamp)\b)`)

// NoDatabaseClock fails the test when a string literal in the non-test Go
// files of dir (one package) reads PostgreSQL's clock. Services write and
// compare every time through their injected clock (docs/delivery.md, "One
// clock"); a statement that asked the database for the time would compare
// two clocks again, which is how CI failed every afternoon in New York.
func NoDatabaseClock(t testing.TB, dir string) {
	t.Helper()
	found, err := DatabaseClockReads(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Errorf("%s; pass the time from the service's clock instead", f)
	}
}

// DatabaseClockReads lists, as "file:line: SQL reads the database's clock
// (now())", each string literal in the non-test Go files of dir that reads
// PostgreSQL's clock. A folder with no Go files is an error, so a wrong
// path cannot pass.
func DatabaseClockReads(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	var found []string
	checked := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", path, err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				s = lit.Value
			}
			if m := databaseClock.FindString(s); m != "" {
				found = append(found, fmt.Sprintf("%s: SQL reads the database's clock (%s)", fset.Position(lit.Pos()), m))
			}
			return true
		})
	}
	if checked == 0 {
		return nil, fmt.Errorf("no Go files in %s: the check would pass on nothing", dir)
	}
	return found, nil
}
