package buildinfo

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReadNamesTheGoThatBuiltTheTest(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() {
		t.Errorf("go version = %q, want %q", i.GoVersion, runtime.Version())
	}
	if i.Version == "" || i.Revision == "" {
		t.Errorf("info = %+v: version and revision are never empty", i)
	}
}

func TestStringSaysVersionCommitAndChanges(t *testing.T) {
	got := Info{Version: "v1.4.0", Revision: "0123456789abcdef0123", Modified: true, GoVersion: "go1.26.8"}.String()
	if want := "v1.4.0 (commit 0123456789ab, with uncommitted changes, go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestCollectorIsOneLabelledWithTheBuild(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(Info{Version: "v1.4.0", Revision: "abc", GoVersion: "go1.26.8"}.Collector("delivery"))
	want := `# HELP muster_build_info The running build: always 1, labelled with the service, version, commit and Go version.
# TYPE muster_build_info gauge
muster_build_info{goversion="go1.26.8",modified="false",revision="abc",service="delivery",version="v1.4.0"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "muster_build_info"); err != nil {
		t.Error(err)
	}
}
