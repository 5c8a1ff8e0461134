package cluster

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Report accounts for every member of a run: each intended text was sent
// exactly once, suppressed, or failed with a reason. Anything else is a
// problem: lost (no record, never settled, or recorded as sent yet the
// provider never had it), duplicated (the provider took it twice), or sent
// after an opt-out (claimed for sending after the member's STOP was
// answered).
type Report struct {
	Case    string
	Members int

	Sent       int
	Suppressed int
	// SkippedOptedOut members had opted out before fan-out reached them,
	// so no send was requested at all.
	SkippedOptedOut int
	Failed          map[string]int
	// Statuses counts delivery's final status of each record.
	Statuses map[string]int

	Lost, Duplicated, AfterOptOut int
	// SentBeforeStop counts members who texted STOP and whose text had
	// been claimed for sending before the STOP was answered (already sent,
	// or in the provider call): it went, as it would have from Twilio's
	// own queue. None may be claimed after.
	SentBeforeStop int
	Stops          int
	Problems       []string

	Elapsed time.Duration
	// Faulted is false for a case whose fault lasts the whole run (then
	// RateBefore is the whole run's rate).
	Faulted                bool
	RateBefore, RateDuring float64
	// Recovery is from the repair (or the fault, when nothing is
	// repaired) until texts flow at half the rate before the fault again;
	// zero when there was nothing left to send by then.
	Recovery time.Duration
}

type record struct {
	to, status, code, reason string
	claimed                  time.Time
}

func (r *Run) account(ctx context.Context) *Report {
	r.t.Helper()
	rep := &Report{Case: r.t.Name(), Members: len(r.Phones), Failed: map[string]int{}, Statuses: map[string]int{}}
	conn, err := pgx.Connect(ctx, r.p.DeliveryDB)
	if err != nil {
		r.t.Fatal(err)
	}
	defer conn.Close(ctx)
	records := r.records(ctx, conn)
	suppressed := r.suppressed(ctx, conn)
	sent := r.outbox()
	r.mu.Lock()
	stops := make(map[string]time.Time, len(r.stops))
	for k, v := range r.stops {
		stops[k] = v
	}
	r.mu.Unlock()
	rep.Stops = len(stops)

	problem := func(format string, args ...any) {
		if len(rep.Problems) < 20 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, phone := range r.Phones {
		texts := len(sent[phone])
		if texts > 1 {
			rep.Duplicated++
			problem("%s: the provider took %d texts", phone, texts)
		}
		recs := records[phone]
		if len(recs) > 1 {
			rep.Duplicated++
			problem("%s: %d delivery records", phone, len(recs))
		}
		if len(recs) == 0 {
			if suppressed[phone] && texts == 0 {
				rep.SkippedOptedOut++
				continue
			}
			rep.Lost++
			problem("%s: no delivery record (suppressed %v, texts %d)", phone, suppressed[phone], texts)
			continue
		}
		m := recs[0]
		rep.Statuses[m.status]++
		if at, ok := stops[phone]; ok && texts > 0 {
			if m.claimed.After(at) {
				rep.AfterOptOut++
				problem("%s: claimed %s after STOP answered at %s", phone, m.claimed.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
			} else {
				rep.SentBeforeStop++
			}
		}
		switch m.status {
		case "accepted", "sent", "delivered", "undelivered":
			if texts == 0 {
				rep.Lost++
				problem("%s: %s, yet the provider never had it", phone, m.status)
				continue
			}
			rep.Sent++
		case "suppressed":
			if texts > 0 {
				problem("%s: suppressed, yet the provider took it", phone)
			}
			rep.Suppressed++
		case "failed", "expired", "cancelled":
			if texts > 0 {
				problem("%s: %s (%s), yet the provider took it", phone, m.status, m.reason)
			}
			rep.Failed[m.status+" "+m.code]++
		default:
			rep.Lost++
			problem("%s: never settled, still %s", phone, m.status)
		}
	}
	r.rates(rep)
	return rep
}

func (r *Run) records(ctx context.Context, conn *pgx.Conn) map[string][]record {
	r.t.Helper()
	rows, err := conn.Query(ctx, `SELECT to_addr, status, error_code, reason, coalesce(claimed_at, created_at) FROM messages
		WHERE campaign_id = $1 AND channel = 'sms'`, r.CampaignID)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][]record{}
	for rows.Next() {
		var m record
		if err := rows.Scan(&m.to, &m.status, &m.code, &m.reason, &m.claimed); err != nil {
			r.t.Fatal(err)
		}
		out[m.to] = append(out[m.to], m)
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	return out
}

func (r *Run) suppressed(ctx context.Context, conn *pgx.Conn) map[string]bool {
	r.t.Helper()
	rows, err := conn.Query(ctx, `SELECT address FROM suppressions WHERE channel = 'sms'`)
	if err != nil {
		r.t.Fatal(err)
	}
	addrs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		r.t.Fatal(err)
	}
	out := make(map[string]bool, len(addrs))
	for _, a := range addrs {
		out[a] = true
	}
	return out
}

// rates reads the sampled timeline: the rate in the three seconds before
// the fault, the rate while it lasted (at least its first two seconds),
// and how long after the repair the rate came back to half.
func (r *Run) rates(rep *Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.samples
	if len(s) < 2 {
		return
	}
	// The end of sending: the first sample with the final count.
	final := s[len(s)-1].count
	end := s[len(s)-1].at
	for i := len(s) - 1; i >= 0 && s[i].count == final; i-- {
		end = s[i].at
	}
	rep.Elapsed = end.Sub(r.Started)
	if r.fault.IsZero() {
		rep.RateBefore = rateBetween(s, r.Started, end)
		return
	}
	rep.Faulted = true
	rep.RateBefore = rateBetween(s, r.fault.Add(-3*time.Second), r.fault)
	repaired := r.repaired
	if repaired.IsZero() || repaired.Before(r.fault) {
		repaired = r.fault
	}
	until := r.fault.Add(2 * time.Second)
	if repaired.After(until) {
		until = repaired
	}
	rep.RateDuring = rateBetween(s, r.fault, until)
	if !repaired.Before(end) {
		return
	}
	for at := repaired; at.Add(time.Second).Before(end); at = at.Add(100 * time.Millisecond) {
		if rateBetween(s, at, at.Add(time.Second)) >= rep.RateBefore/2 {
			rep.Recovery = at.Sub(repaired)
			return
		}
	}
	rep.Recovery = end.Sub(repaired)
}

// rateBetween is texts per second between two moments, from the samples
// nearest them.
func rateBetween(s []sample, from, to time.Time) float64 {
	at := func(t time.Time) sample {
		i := sort.Search(len(s), func(i int) bool { return !s[i].at.Before(t) })
		if i == len(s) {
			i = len(s) - 1
		}
		return s[i]
	}
	a, b := at(from), at(to)
	d := b.at.Sub(a.at).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(b.count-a.count) / d
}

// Accounted is how many members the report explains.
func (rep *Report) Accounted() int {
	n := rep.Sent + rep.Suppressed + rep.SkippedOptedOut
	for _, c := range rep.Failed {
		n += c
	}
	return n
}

// FailedTotal is the number of members whose text failed with a reason.
func (rep *Report) FailedTotal() int {
	n := 0
	for _, c := range rep.Failed {
		n += c
	}
	return n
}

// Check fails the test unless every member is accounted for with no
// loss, no duplicate and no send after an opt-out; it logs the report and
// appends it to the file MUSTER_FAULT_REPORT names, if any.
func (rep *Report) Check(t interface {
	Helper()
	Logf(string, ...any)
	Errorf(string, ...any)
}) {
	t.Helper()
	t.Logf("%s", rep)
	if rep.Lost != 0 || rep.Duplicated != 0 || rep.AfterOptOut != 0 || len(rep.Problems) != 0 {
		t.Errorf("lost %d, duplicated %d, sent after opt-out %d; first problems:\n  %s",
			rep.Lost, rep.Duplicated, rep.AfterOptOut, strings.Join(rep.Problems, "\n  "))
	}
	if rep.Accounted() != rep.Members {
		t.Errorf("accounted for %d of %d members", rep.Accounted(), rep.Members)
	}
	if path := os.Getenv("MUSTER_FAULT_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Errorf("writing the report: %v", err)
			return
		}
		defer f.Close()
		fmt.Fprintln(f, rep.Row())
	}
}

func (rep *Report) String() string {
	return fmt.Sprintf("%s: %d members: sent %d, suppressed %d, skipped (opted out) %d, failed %v; lost %d, duplicated %d, "+
		"after opt-out %d, sent before their STOP %d of %d STOPs; %.1fs in all, %.0f/s before the fault, %.0f/s during, recovered in %.1fs",
		rep.Case, rep.Members, rep.Sent, rep.Suppressed, rep.SkippedOptedOut, rep.Failed, rep.Lost, rep.Duplicated,
		rep.AfterOptOut, rep.SentBeforeStop, rep.Stops, rep.Elapsed.Seconds(), rep.RateBefore, rep.RateDuring, rep.Recovery.Seconds())
}

// Row is the report as a row of docs/reliability.md's table.
func (rep *Report) Row() string {
	failed := "0"
	if n := rep.FailedTotal(); n > 0 {
		var parts []string
		for k, v := range rep.Failed {
			parts = append(parts, fmt.Sprintf("%d %s", v, strings.TrimSpace(k)))
		}
		sort.Strings(parts)
		failed = strings.Join(parts, ", ")
	}
	during, recovery := fmt.Sprintf("%.0f", rep.RateDuring), fmt.Sprintf("%.1f s", rep.Recovery.Seconds())
	if !rep.Faulted {
		during, recovery = "(whole run)", "n/a"
	}
	return fmt.Sprintf("| %s | %d | %d | %d | %s | %d | %d | %d | %d/%d | %.0f | %s | %s | %.1f s |",
		strings.TrimPrefix(rep.Case, "TestFault"), rep.Members, rep.Sent, rep.Suppressed+rep.SkippedOptedOut, failed,
		rep.Lost, rep.Duplicated, rep.AfterOptOut, rep.SentBeforeStop, rep.Stops,
		rep.RateBefore, during, recovery, rep.Elapsed.Seconds())
}
