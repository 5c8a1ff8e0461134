package deployment

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const observabilityDir = "../../../deployments/observability"

// metricName is a name in a PromQL expression that is one of ours (or the
// HTTP middleware's); Prometheus's own (up) and the client library's
// process_ and go_ collectors are not checked.
var metricName = regexp.MustCompile(`\b((?:delivery|muster|contacts|campaigns|console|http)_[a-z0-9_]+)\b`)

// A dashboard or an alert that names a metric no code exports shows an
// empty panel or never fires: every name the queries use is a string some
// service or shared package registers.
func TestDashboardsAndAlertsNameMetricsTheCodeExports(t *testing.T) {
	exprs := map[string][]string{} // file -> expressions
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(observabilityDir, "prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alerts.yml "+r.Alert] = append(exprs["alerts.yml "+r.Alert], r.Expr)
		}
	}
	dashboards, err := filepath.Glob(filepath.Join(observabilityDir, "grafana/dashboards/*.json"))
	if err != nil || len(dashboards) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	for _, path := range dashboards {
		var d struct {
			Panels []struct {
				Title   string
				Targets []struct{ Expr string }
			}
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				exprs[filepath.Base(path)+" "+p.Title] = append(exprs[filepath.Base(path)+" "+p.Title], tg.Expr)
			}
		}
	}

	exported := exportedNames(t)
	checked := 0
	for where, list := range exprs {
		for _, e := range list {
			for _, m := range metricName.FindAllString(e, -1) {
				checked++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
				if !exported[base] {
					t.Errorf("%s uses %s, which no code exports", where, m)
				}
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d metric names found in the dashboards and alerts; the parsing is broken", checked)
	}
}

// exportedNames are the string literals in the services' and shared's Go
// code (tests aside) that look like metric names.
func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"((?:delivery|muster|contacts|campaigns|console|http)_[a-z0-9_]+)"`)
	out := map[string]bool{}
	for _, root := range []string{"../../../services", "../../../shared"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range lit.FindAllStringSubmatch(string(src), -1) {
				out[m[1]] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(out) < 10 {
		names := make([]string, 0, len(out))
		for n := range out {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Fatalf("found only %v as metric names in the code", names)
	}
	return out
}
