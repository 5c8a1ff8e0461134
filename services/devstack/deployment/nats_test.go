package deployment

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// natsImage is a nats image reference in a compose or Kubernetes file,
// from any registry; the tag's leading major.minor is captured.
var natsImage = regexp.MustCompile(`(?m)^\s*(?:-\s*)?image:\s*["']?(?:[^\s"']*/)?nats:(\d+\.\d+)[^\s"']*`)

// TestNATSImagesMatchTestedServer keeps the NATS servers that compose and
// Kubernetes run on the minor version every test runs against: the
// embedded nats-server the modules require. JetStream's behaviour (and
// its defaults for ack, dedupe and stream storage) moves between minors,
// so a deployment on another one runs what was never tested.
func TestNATSImagesMatchTestedServer(t *testing.T) {
	parts := strings.SplitN(server.VERSION, ".", 3)
	if len(parts) < 2 {
		t.Fatalf("nats-server VERSION %q is not major.minor.patch", server.VERSION)
	}
	tested := parts[0] + "." + parts[1]
	files := []string{composePath}
	for _, dir := range []string{"../../../deployments/k8s", "../../../deployments/k8s-dev"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range natsImage.FindAllStringSubmatch(string(raw), -1) {
			seen++
			if m[1] != tested {
				t.Errorf("%s runs %s: want nats %s.x, the nats-server the tests embed (%s)",
					filepath.Base(f), strings.TrimSpace(m[0]), tested, server.VERSION)
			}
		}
	}
	// Compose's nodes share one anchor; Kubernetes has its StatefulSet.
	if seen < 2 {
		t.Errorf("found %d nats images in compose and deployments/k8s*; the pattern no longer matches the files", seen)
	}
}
