package app_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cpuShare is the CPU time (user plus system) spent by the benchmark's
// own process (delivery and its embedded NATS), by every PostgreSQL
// process and by the simulator, read from /proc: a benchmark reads it
// before and after its timed window to say where each message's cost
// went. On a system without /proc the counts stay zero.
type cpuShare struct {
	self, postgres, simulator time.Duration
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc's counters.
const clockTicks = 100

func readCPU(simPID int) cpuShare {
	var c cpuShare
	c.self = procCPU("self")
	c.simulator = procCPU(strconv.Itoa(simPID))
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			c.postgres += procCPU(filepath.Base(d))
		}
	}
	return c
}

// procCPU reads utime and stime of one process from /proc/<pid>/stat.
func procCPU(pid string) time.Duration {
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name is in parentheses and may hold spaces; fields
	// after it are counted from the closing one.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// perMessage is the CPU each message cost in each part between two
// readings, in microseconds.
func (c cpuShare) perMessage(before cpuShare, n int) (self, postgres, simulator float64) {
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return us(c.self - before.self), us(c.postgres - before.postgres), us(c.simulator - before.simulator)
}
