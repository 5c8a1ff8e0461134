package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/testkit"
)

// simProcess is the provider simulator running as a process of its own,
// built from services/simulator/cmd/simulator: in production the provider
// is remote, so a benchmark that counts on the simulator's own CPU being
// elsewhere gives it its own process (and garbage collector), though on
// the same cores.
type simProcess struct {
	URL  string
	cmd  *exec.Cmd
	http *http.Client
}

// startSimProcess builds and starts the simulator with the given
// SIMULATOR_* settings and waits until it answers; it is stopped when the
// test ends.
func startSimProcess(tb testing.TB, env ...string) *simProcess {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "simulator")
	build := exec.Command("go", "build", "-o", bin, "github.com/musterhq/muster/services/simulator/cmd/simulator")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building the simulator: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(tb))
	logs, err := os.Create(filepath.Join(dir, "simulator.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append([]string{"SIMULATOR_ADDR=" + addr}, env...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the simulator: %v", err)
	}
	s := &simProcess{URL: "http://" + addr, cmd: cmd, http: &http.Client{Timeout: 5 * time.Second}}
	tb.Cleanup(func() {
		s.stop(tb)
		logs.Close()
	})
	testkit.Eventually(tb, "the simulator to answer", func() bool {
		resp, err := s.http.Get(s.URL + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

func (s *simProcess) stop(tb testing.TB) {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Logf("simulator exited: %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// EmailCount is how many emails the simulator has accepted, one per
// recipient, from its stats (which do not copy the emails).
func (s *simProcess) EmailCount(ctx context.Context) (int, error) {
	st, err := s.stats(ctx)
	return st.Emails, err
}

// TextCount is how many texts the simulator has accepted, from its stats
// (which do not copy the outbox).
func (s *simProcess) TextCount(ctx context.Context) (int, error) {
	st, err := s.stats(ctx)
	return st.Messages, err
}

type simStats struct {
	Messages   int            `json:"messages"`
	Emails     int            `json:"emails"`
	Duplicates map[string]int `json:"duplicates"`
}

func (s *simProcess) stats(ctx context.Context) (simStats, error) {
	var stats simStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/sim/stats", nil)
	if err != nil {
		return stats, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return stats, fmt.Errorf("reading simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		return stats, fmt.Errorf("decoding simulator stats: %w", err)
	}
	return stats, nil
}
