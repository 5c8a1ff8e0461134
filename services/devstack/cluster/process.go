package cluster

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Binaries are the service binaries, built once per test run from the
// workspace as `make build` builds them.
type Binaries struct {
	Dir string
}

// Build compiles contacts, campaigns, delivery and the simulator into a
// temporary directory. The Go build cache makes every build after the
// first take a second or two.
func Build(t testing.TB) Binaries {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, s := range []string{"contacts", "campaigns", "delivery", "simulator"} {
		args = append(args, fmt.Sprintf("github.com/musterhq/muster/services/%s/cmd/%s", s, s))
	}
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the services: %v\n%s", err, out)
	}
	return Binaries{Dir: dir}
}

// Path is the path of one service's binary.
func (b Binaries) Path(service string) string { return filepath.Join(b.Dir, service) }

// Process is one running service binary. Its output goes to a log file,
// shown when the test fails.
type Process struct {
	t      testing.TB
	Name   string
	bin    string
	env    []string
	logTo  string
	health string
	cmd    *exec.Cmd
	exited chan struct{}
}

func newProcess(t testing.TB, name, bin, health string, env []string) *Process {
	p := &Process{t: t, Name: name, bin: bin, env: env, health: health,
		logTo: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.dumpLog()
		}
	})
	return p
}

// Start runs the binary and waits until its /healthz answers.
func (p *Process) Start() {
	p.t.Helper()
	f, err := os.OpenFile(p.logTo, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(p.bin)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			p.dumpLog()
			p.t.Fatalf("%s exited while starting", p.Name)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not healthy at %s after 60s", p.Name, p.health)
		}
	}
}

// Kill sends SIGKILL: no shutdown hook runs, nothing in flight is
// acknowledged or finished.
func (p *Process) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.cmd = nil
}

func (p *Process) dumpLog() {
	data, err := os.ReadFile(p.logTo)
	if err != nil || len(data) == 0 {
		return
	}
	if len(data) > 8<<10 {
		data = data[len(data)-8<<10:]
	}
	p.t.Logf("--- last lines of %s ---\n%s", p.Name, bytes.TrimSpace(data))
}

// PeakRSS is the most memory the running process has held (VmHWM), in
// bytes.
func (p *Process) PeakRSS() (int64, error) {
	if p.cmd == nil {
		return 0, fmt.Errorf("%s is not running", p.Name)
	}
	return peakRSS(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid), p.Name)
}

// SelfPeakRSS is PeakRSS of the test's own process, where the NATS
// servers run.
func SelfPeakRSS() (int64, error) { return peakRSS("/proc/self/status", "the test process") }

func peakRSS(statusFile, name string) (int64, error) {
	data, err := os.ReadFile(statusFile)
	if err != nil {
		return 0, fmt.Errorf("reading %s's memory: %w", name, err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing %s's VmHWM %q: %w", name, rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM for %s", name)
}
