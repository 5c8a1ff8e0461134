package cluster

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/testkit"
)

// CPU is the user plus system CPU the running process has used.
func (p *Process) CPU() (time.Duration, error) {
	if p.cmd == nil {
		return 0, fmt.Errorf("%s is not running", p.Name)
	}
	return testkit.ProcessCPU(strconv.Itoa(p.cmd.Process.Pid))
}

// CPUUse is CPU used per part of the platform: each service process,
// "nats+test" (this process, where the cluster's nodes run embedded) and
// "postgres" (the server backends connected to the platform's databases).
type CPUUse map[string]time.Duration

// CPUSnapshot reads how much CPU each part of the platform has used so far.
// Two snapshots' Since is what a run cost.
func (p *Platform) CPUSnapshot() CPUUse {
	use := CPUUse{}
	for _, proc := range p.processes() {
		if d, err := proc.CPU(); err == nil {
			use[proc.Name] = d
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		use["nats+test"] = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	// PostgreSQL backends by pid: a pooled connection lives through a run.
	for _, dsn := range []string{p.ContactsDB, p.CampaignsDB, p.DeliveryDB} {
		for pid, d := range p.backends(dsn) {
			use["pg:"+strconv.Itoa(pid)] = d
		}
	}
	return use
}

func (p *Platform) backends(dsn string) map[int]time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil
	}
	out := map[int]time.Duration{}
	for _, pid := range pids {
		if d, err := testkit.ProcessCPU(strconv.Itoa(int(pid))); err == nil {
			out[int(pid)] = d
		}
	}
	return out
}

// Since is the CPU used between an earlier snapshot and this one, in
// microseconds per item, one line per part, PostgreSQL's backends summed.
func (u CPUUse) Since(before CPUUse, items int) string {
	per := map[string]float64{}
	var total float64
	for name, d := range u {
		delta := d - before[name] // a backend born during the run counts whole
		if strings.HasPrefix(name, "pg:") {
			name = "postgres"
		}
		us := float64(delta.Microseconds()) / float64(items)
		per[name] += us
		total += us
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%.0f ", n, per[n])
	}
	fmt.Fprintf(&b, "total=%.0f µs/text", total)
	return b.String()
}
