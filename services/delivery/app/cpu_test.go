package app_test

import (
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/musterhq/muster/shared/testkit"
)

// cpuShare is the CPU time (user plus system) spent by the benchmark's
// own process (delivery and its embedded NATS), by every PostgreSQL
// process and by the simulator, read from /proc: a benchmark reads it
// before and after its timed window to say where each message's cost
// went. On a system without /proc the counts stay zero.
type cpuShare struct {
	self, postgres, simulator time.Duration
}

func readCPU(simPID int) cpuShare {
	var c cpuShare
	c.self, _ = testkit.ProcessCPU("self")
	c.simulator, _ = testkit.ProcessCPU(strconv.Itoa(simPID))
	c.postgres = testkit.PostgresCPU(nil)
	return c
}

// postgresFor is the CPU time of the PostgreSQL processes that serve db
// or no database at all (the WAL writer, checkpointer, bgwriter): on a
// machine shared with other tests' databases, the part of PostgreSQL's
// work this benchmark caused, near enough.
func postgresFor(db string) time.Duration {
	return testkit.PostgresCPU(func(title string) bool {
		return strings.Contains(title, " "+db+" ") ||
			!strings.Contains(title, "127.0.0.1(") && !strings.Contains(title, "[local]") && !strings.Contains(title, " muster_")
	})
}

// perMessage is the CPU each message cost in each part between two
// readings, in microseconds.
func (c cpuShare) perMessage(before cpuShare, n int) (self, postgres, simulator float64) {
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return us(c.self - before.self), us(c.postgres - before.postgres), us(c.simulator - before.simulator)
}

// dbName is the database a PostgreSQL URL names.
func dbName(url string) string {
	u, err := neturl.Parse(url)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}
