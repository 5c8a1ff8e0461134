package testkit

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProcessCPUCountsWork burns CPU in this process until the reading,
// by "self" and by pid, has moved by 50 ms: a reading that never moves
// fails after 30 s, however busy the machine.
func TestProcessCPUCountsWork(t *testing.T) {
	before, err := ProcessCPU("self")
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for deadline := time.Now().Add(30 * time.Second); ; {
		for i := range 1_000_000 {
			sum += i
		}
		after, err := ProcessCPU(strconv.Itoa(os.Getpid()))
		if err != nil {
			t.Fatal(err)
		}
		if after-before >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s of work read as %v of CPU (sum %d)", after-before, sum)
		}
	}
	if _, err := ProcessCPU("0"); err == nil {
		t.Fatal("read the CPU of process 0")
	}
}

// TestPostgresCPUKeepsWhatItIsTold reads the PostgreSQL processes' CPU
// whole and through a filter that refuses every process.
func TestPostgresCPUKeepsWhatItIsTold(t *testing.T) {
	if got := PostgresCPU(func(string) bool { return false }); got != 0 {
		t.Fatalf("no process kept, yet %v of CPU", got)
	}
	var titles []string
	PostgresCPU(func(title string) bool {
		titles = append(titles, title)
		return true
	})
	for _, title := range titles {
		if !strings.HasPrefix(title, "postgres") && !strings.Contains(title, "/postgres") {
			t.Fatalf("kept a process titled %q", title)
		}
	}
}
