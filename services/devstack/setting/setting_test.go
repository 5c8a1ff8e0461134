package setting

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	campaigns "github.com/musterhq/muster/services/campaigns/app"
	console "github.com/musterhq/muster/services/console/app"
	contacts "github.com/musterhq/muster/services/contacts/app"
	delivery "github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/shared/service"
)

// root is the repository, from this package's directory.
const root = "../../.."

// readme is where the configuration is documented: its "Configuration"
// section, and the pages under docs/ that section links.
const readme = "README.md"

// services are the configs read with service.Load, with the prefix each
// reads under. Their defaults are known exactly: each DefaultConfig is
// what LoadConfig starts from.
var services = []struct {
	prefix string
	cfg    any
	dir    string
}{
	{"CONTACTS_", ptr(contacts.DefaultConfig()), "services/contacts/app"},
	{"CAMPAIGNS_", ptr(campaigns.DefaultConfig()), "services/campaigns/app"},
	{"DELIVERY_", ptr(delivery.DefaultConfig()), "services/delivery/app"},
	{"CONSOLE_", ptr(console.DefaultConfig()), "services/console/app"},
}

// sharedDir holds service.Config, which each service embeds.
const sharedDir = "shared/service"

// anyService is how the docs write a variable every service reads under
// its own prefix: <SVC>_LOG_LEVEL. In such a row's default, serviceName
// stands for the service's name: muster_<svc> is muster_contacts for
// CONTACTS_DATABASE_URL.
const (
	anyService  = "<SVC>_"
	serviceName = "<svc>"
)

func ptr[T any](v T) *T { return &v }

// settingName is an environment variable Muster reads, when a whole Go
// string literal spells it: the simulator, the tests and the fault suite
// read theirs by name rather than through a config struct.
var settingName = regexp.MustCompile(`^(MUSTER|CONTACTS|CAMPAIGNS|DELIVERY|CONSOLE|SIMULATOR)_[A-Z0-9_]*[A-Z0-9]$`)

// codeSetting is a variable the code reads and what is known of its
// default: the field in a DefaultConfig, an envDefault tag, or nothing
// (read by name; its default is in code the test cannot evaluate).
type codeSetting struct {
	where string
	// field is the setting's value in its DefaultConfig, and cfg and
	// prefix say how to parse a documented default into its type.
	field  *reflect.Value
	cfg    any
	prefix string
	// tagDefault is an envDefault tag, for a struct read outside the
	// services' configs (make run's MUSTER_ settings).
	tagDefault *string
}

// docSetting is a row of a configuration table.
type docSetting struct {
	where string
	def   string // the default cell's first `code`, or "" for none
}

func TestEverySettingIsDocumented(t *testing.T) {
	code, testOnly := readCode(t)
	docs := readDocs(t)

	var keys []string
	for k := range code {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := code[k]
		d, ok := docs[k]
		if !ok {
			t.Errorf("%s (read in %s) is in no configuration table of %s or the pages its Configuration section links", k, c.where, readme)
			continue
		}
		checkDefault(t, k, c, d)
	}
	var documented []string
	for k := range docs {
		documented = append(documented, k)
	}
	sort.Strings(documented)
	for _, k := range documented {
		if _, ok := code[k]; !ok && !testOnly[k] {
			t.Errorf("%s is documented (%s) but no code reads it", k, docs[k].where)
		}
	}
}

// deploymentFiles set services' variables for compose and Kubernetes.
var deploymentFiles = []string{"docker-compose.yml", "deployments/k8s/*.yaml", "deployments/k8s-dev/*.yaml",
	"deployments/compose/make-env.sh"}

// deploymentVariable is a service's variable given a value in a
// deployment file: compose's "KEY: value" or "- KEY=value", a
// ConfigMap's "KEY: value", a container's "- name: KEY", make-env.sh's
// "KEY=value".
var deploymentVariable = regexp.MustCompile(`(?m)^\s*(?:-\s*)?(?:name:\s*)?((?:CONTACTS|CAMPAIGNS|DELIVERY|CONSOLE|SIMULATOR)_[A-Z0-9_]*[A-Z0-9])\s*(?:[:=]|$)`)

// TestDeploymentsSetOnlySettingsTheCodeReads catches a misspelt or retired
// variable in compose or Kubernetes: a service ignores a variable it does
// not read, so the setting silently keeps its default.
func TestDeploymentsSetOnlySettingsTheCodeReads(t *testing.T) {
	code, _ := readCode(t)
	seen := 0
	for _, pattern := range deploymentFiles {
		files, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(root, f)
			for _, m := range deploymentVariable.FindAllStringSubmatch(string(raw), -1) {
				seen++
				if _, ok := code[m[1]]; !ok {
					t.Errorf("%s sets %s, which no code reads", rel, m[1])
				}
			}
		}
	}
	if seen == 0 {
		t.Error("found no service variable in the deployment files; the pattern no longer matches them")
	}
}

// checkDefault compares a documented default with the code's: parsed
// into the field's type for a service setting (so `2m` is 2m0s), as text
// for an envDefault tag. A default cell without `code` says the code's
// default is the zero value (empty, 0, false), however it then reads it.
func checkDefault(t *testing.T, key string, c codeSetting, d docSetting) {
	t.Helper()
	switch {
	case c.field != nil:
		if d.def == "" {
			if !c.field.IsZero() {
				t.Errorf("%s: %s gives no default, the code's is %v", key, d.where, c.field.Interface())
			}
			return
		}
		// Parse the documented value the way the service would, into a
		// copy of its defaults, and compare the one field.
		cp := reflect.New(reflect.TypeOf(c.cfg).Elem())
		cp.Elem().Set(reflect.ValueOf(c.cfg).Elem())
		if _, err := service.Overlay(c.prefix, cp.Interface(), map[string]string{key: d.def}); err != nil {
			t.Errorf("%s: the default %s gives, %q, does not parse: %v", key, d.where, d.def, err)
			return
		}
		settings, err := service.Settings(c.prefix, cp.Interface())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range settings {
			if s.Key == key && !reflect.DeepEqual(s.Value.Interface(), c.field.Interface()) {
				t.Errorf("%s: %s gives the default %q, the code's is %v", key, d.where, d.def, c.field.Interface())
			}
		}
	case c.tagDefault != nil:
		if d.def != *c.tagDefault {
			t.Errorf("%s: %s gives the default %q, the code's (%s) is %q", key, d.where, d.def, c.where, *c.tagDefault)
		}
	}
}

// readCode finds every variable the code reads: the services' configs by
// reflection, and by parsing every non-test Go file of the repository,
// env-tagged structs elsewhere (with the prefix their package's Load call
// names) and names spelled as string literals. testOnly are the names
// only test files spell, which the docs may list for whoever runs tests.
func readCode(t *testing.T) (map[string]codeSetting, map[string]bool) {
	t.Helper()
	code := map[string]codeSetting{}
	covered := map[string][]string{} // package dir -> keys its configs read
	for _, s := range services {
		settings, err := service.Settings(s.prefix, s.cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range settings {
			code[st.Key] = codeSetting{where: s.dir, field: &st.Value, cfg: s.cfg, prefix: s.prefix}
			covered[s.dir] = append(covered[s.dir], st.Key)
			covered[sharedDir] = append(covered[sharedDir], st.Key)
		}
	}

	testOnly := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "bin", ".run":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(path, "_test.go")
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil || !settingName.MatchString(s) {
				return true
			}
			if isTest {
				testOnly[s] = true
			} else if _, ok := code[s]; !ok {
				code[s] = codeSetting{where: rel}
			}
			return true
		})
		if isTest {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, tag := range envTags(f) {
			if keys, ok := covered[dir]; ok {
				if !slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, "_"+tag.name) }) {
					t.Errorf("%s: env tag %q is in no service's Config: a struct read elsewhere needs this test to know its prefix", rel, tag.name)
				}
				continue
			}
			prefixes := loadPrefixes(t, filepath.Dir(path))
			if len(prefixes) == 0 {
				t.Errorf("%s: env tag %q, but no Load(\"PREFIX_\", ...) in its package names the prefix it is read under", rel, tag.name)
			}
			for _, p := range prefixes {
				def := tag.def
				code[p+tag.name] = codeSetting{where: rel, tagDefault: &def}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return code, testOnly
}

type envTag struct{ name, def string }

// envTags are the env tags of a file's struct fields.
func envTags(f *ast.File) []envTag {
	var out []envTag
	ast.Inspect(f, func(n ast.Node) bool {
		field, ok := n.(*ast.Field)
		if !ok || field.Tag == nil {
			return true
		}
		raw, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			return true
		}
		tag := reflect.StructTag(raw)
		if name, _, _ := strings.Cut(tag.Get("env"), ","); name != "" {
			out = append(out, envTag{name: name, def: tag.Get("envDefault")})
		}
		return true
	})
	return out
}

// loadPrefixes are the prefixes the Load calls of a package's non-test
// files name as a string literal: service.Load("MUSTER_", &cfg).
func loadPrefixes(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, path := range matches {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			case *ast.Ident:
				name = fn.Name
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && name == "Load" && lit.Kind == token.STRING {
				if p, err := strconv.Unquote(lit.Value); err == nil && !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
			return true
		})
	}
	return out
}

// link is a Markdown link to a page under docs/.
var link = regexp.MustCompile(`\]\((docs/[A-Za-z0-9_./-]+\.md)(?:#[^)]*)?\)`)

// code is a `span` in a Markdown cell.
var code = regexp.MustCompile("`([^`]*)`")

// variable is a name in a table's variable cell: DELIVERY_CAP_PER_DAY, or
// <SVC>_LOG_LEVEL for every service.
var variable = regexp.MustCompile(`^(<SVC>_)?[A-Z][A-Z0-9_]*[A-Z0-9]$`)

// readDocs reads the configuration tables: in the README's Configuration
// section, and in every docs/ page that section links. A configuration
// table is one whose header starts "| variable | default |"; each row
// names one variable, so its default is unambiguous.
func readDocs(t *testing.T) map[string]docSetting {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, readme))
	if err != nil {
		t.Fatal(err)
	}
	section, line := markdownSection(string(raw), "Configuration")
	if section == "" {
		t.Fatalf("%s has no ## Configuration section", readme)
	}
	docs := map[string]docSetting{}
	readTables(t, readme, section, line, docs)
	for _, m := range link.FindAllStringSubmatch(section, -1) {
		page, err := os.ReadFile(filepath.Join(root, m[1]))
		if err != nil {
			t.Errorf("%s's Configuration section links %s: %v", readme, m[1], err)
			continue
		}
		readTables(t, m[1], string(page), 1, docs)
	}
	if len(docs) == 0 {
		t.Fatalf("no configuration table (| variable | default | ... |) in %s's Configuration section or the pages it links", readme)
	}
	return docs
}

// markdownSection is the text under a "## title" heading, up to the next
// heading of that level, and the line of the document it starts on.
func markdownSection(doc, title string) (string, int) {
	before, rest, ok := strings.Cut(doc, "\n## "+title+"\n")
	if !ok {
		return "", 0
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest, strings.Count(before, "\n") + 3
}

// readTables adds the rows of text's configuration tables to docs; text
// starts on line first of page.
func readTables(t *testing.T, page, text string, first int, docs map[string]docSetting) {
	t.Helper()
	inTable := false
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) >= 2 && strings.EqualFold(cells[0], "variable") && strings.EqualFold(cells[1], "default") {
			inTable = true
			continue
		}
		if !inTable || strings.Trim(cells[0], "-: ") == "" {
			continue
		}
		where := page + " line " + strconv.Itoa(first+n)
		var names []string
		for _, m := range code.FindAllStringSubmatch(cells[0], -1) {
			if variable.MatchString(m[1]) {
				names = append(names, m[1])
			}
		}
		if len(names) != 1 {
			t.Errorf("%s: a configuration row names one variable, so its default is plain; this one names %d: %s", where, len(names), cells[0])
			continue
		}
		def := ""
		if m := code.FindStringSubmatch(cells[1]); m != nil {
			def = m[1]
		}
		defaults := map[string]string{names[0]: def}
		if rest, ok := strings.CutPrefix(names[0], anyService); ok {
			defaults = map[string]string{}
			for _, s := range services {
				name := strings.ToLower(strings.TrimSuffix(s.prefix, "_"))
				defaults[s.prefix+rest] = strings.ReplaceAll(def, serviceName, name)
			}
		}
		for k, def := range defaults {
			if prev, ok := docs[k]; ok && prev.def != def {
				t.Errorf("%s: %s's default is %q here and %q in %s", where, k, def, prev.def, prev.where)
			}
			docs[k] = docSetting{where: where, def: def}
		}
	}
}
