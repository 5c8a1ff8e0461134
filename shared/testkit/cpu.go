package testkit

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// utime and stime; Linux fixes it at 100.
const clockTicks = 100

// ProcessCPU is the user plus system CPU a process has used so far, read
// from /proc/<pid>/stat; pid "self" is this process. Benchmarks read it
// before and after their timed window to say what each message cost.
func ProcessCPU(pid string) (time.Duration, error) {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, fmt.Errorf("reading process %s's CPU: %w", pid, err)
	}
	// The command name in parentheses may hold spaces; fields are
	// counted from the closing one.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("process %s's stat has %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing process %s's stat %q", pid, s)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// PostgresCPU is the CPU the PostgreSQL server processes on this machine
// (backends, WAL writer, checkpointer) have used so far: on a machine
// running nothing else, what a benchmark cost the database. keep, when
// not nil, picks processes by their title ("postgres: <cluster>: <user>
// <database> <client> <state>" for a backend). Processes that end
// between two readings drop out of the later one, and one ending while
// it is read (its title already empty) is left out.
func PostgresCPU(keep func(title string) bool) time.Duration {
	var total time.Duration
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if keep != nil {
			title, err := os.ReadFile(filepath.Join(d, "cmdline"))
			if err != nil || len(title) == 0 || !keep(string(title)) {
				continue
			}
		}
		if cpu, err := ProcessCPU(filepath.Base(d)); err == nil {
			total += cpu
		}
	}
	return total
}

// ProfileWindow writes a CPU profile of a benchmark's timed window to the
// file MUSTER_BENCH_CPUPROFILE names (go test -cpuprofile would include
// the setup, such as seeding members or filling a stream); the returned
// function stops it. Without the variable it does nothing.
func ProfileWindow(tb testing.TB) func() {
	tb.Helper()
	path := os.Getenv("MUSTER_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatalf("creating the CPU profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatalf("starting the CPU profile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tb.Errorf("writing the CPU profile: %v", err)
		}
	}
}
