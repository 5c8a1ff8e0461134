// Package buildinfo says which build of Muster is running: the version it
// was stamped with, the commit it was built from and the Go that built it.
// Every binary prints it for `version` and every service exports it as the
// muster_build_info metric, so an operator can tell what runs where.
package buildinfo

import (
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// stamped and stampedRevision are the version and commit given at link
// time, the only way to name them in a binary built without its git
// history (the images are) or from the workspace (Go records no commit
// for a multi-module build):
//
//	go build -ldflags "-X github.com/musterhq/muster/shared/buildinfo.stamped=v1.4.0 \
//	    -X github.com/musterhq/muster/shared/buildinfo.stampedRevision=$(git rev-parse HEAD)"
//
// They are never written at run time.
var stamped, stampedRevision string

// Info is one build's identity.
type Info struct {
	// Version is the stamped release, else the module version Go recorded
	// from the repository, else "devel".
	Version string
	// Revision is the commit, "unknown" when the build had no git history.
	Revision string
	// Modified is set when the tree had uncommitted changes.
	Modified  bool
	GoVersion string
}

// Read reads the running binary's identity.
func Read() Info {
	info := Info{Version: stamped, Revision: stampedRevision}
	if info.Revision == "" {
		info.Revision = "unknown"
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if info.Version == "" {
			info.Version = "devel"
		}
		return info
	}
	info.GoVersion = bi.GoVersion
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if stampedRevision == "" {
				info.Revision = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the line `<binary> version` prints after the binary's name.
func (i Info) String() string {
	s := fmt.Sprintf("%s (commit %s", i.Version, short(i.Revision))
	if i.Modified {
		s += ", with uncommitted changes"
	}
	if i.GoVersion != "" {
		s += ", " + i.GoVersion
	}
	return s + ")"
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// Collector is the muster_build_info gauge for service: always 1, its
// labels the build's identity (Prometheus's build-info convention).
func (i Info) Collector(service string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "muster_build_info",
		Help: "The running build: always 1, labelled with the service, version, commit and Go version.",
		ConstLabels: prometheus.Labels{"service": service, "version": i.Version, "revision": i.Revision,
			"goversion": i.GoVersion, "modified": fmt.Sprint(i.Modified)},
	})
	g.Set(1)
	return g
}
