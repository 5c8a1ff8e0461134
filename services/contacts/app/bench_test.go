package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/app"
	"github.com/musterhq/muster/services/contacts/migrations"
	"github.com/musterhq/muster/services/contacts/sample"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth/svcauthtest"
	"github.com/musterhq/muster/shared/testkit"
)

// startQuiet starts the service like start does, with no logging, on the
// given database and NATS server.
func startQuiet(tb testing.TB, dsn string, ns *testkit.NATS) string {
	tb.Helper()
	cfg := app.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.TrustedCallers = svcauthtest.Trusted()
	cfg.ErasureKey = "contacts-erasure-key-for-these-tests-0123456789"
	cfg.DatabaseURL = dsn
	cfg.NATSURL, cfg.NATSSeed = ns.URL(), ns.Seed(natsauth.Contacts)
	cfg.ImportDir = tb.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, zap.NewNop(), app.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("run: %v", err)
		}
	})
	return a.URL()
}

// writeSample writes an n-row member file and returns its path.
func writeSample(tb testing.TB, dir string, n int) string {
	tb.Helper()
	path := filepath.Join(dir, fmt.Sprintf("members-%d.csv", n))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sample.Write(f, 0, n); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return path
}

// importFile uploads a file through POST /imports and waits until the
// import ends, returning its final status.
func importFile(tb testing.TB, url, path string) map[string]any {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	resp, err := api().Post(url+"/imports?source="+filepath.Base(path), "text/csv", f)
	if err != nil {
		tb.Fatal(err)
	}
	var imp map[string]any
	err = json.NewDecoder(resp.Body).Decode(&imp)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("upload = %d %v %v", resp.StatusCode, imp, err)
	}
	return waitImport(tb, url, imp["id"].(string))
}

func waitImport(tb testing.TB, url, id string) map[string]any {
	tb.Helper()
	for {
		resp, err := api().Get(url + "/imports/" + id)
		if err != nil {
			tb.Fatal(err)
		}
		var imp map[string]any
		err = json.NewDecoder(resp.Body).Decode(&imp)
		resp.Body.Close()
		if err != nil {
			tb.Fatal(err)
		}
		if s := imp["state"]; s != "queued" && s != "running" {
			return imp
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkImportRows measures import_rows_per_s: a 100,000-row file
// uploaded to POST /imports and imported into a fresh database, from the
// first byte sent to the import's state turning done.
func BenchmarkImportRows(b *testing.B) {
	const rows = 100_000
	path := writeSample(b, b.TempDir(), rows)
	n := testkit.StartNATS(b)
	for b.Loop() {
		b.StopTimer()
		url := startQuiet(b, testkit.Database(b, migrations.FS), n)
		b.StartTimer()
		start := time.Now()
		imp := importFile(b, url, path)
		took := time.Since(start)
		if imp["state"] != "done" || imp["new"] != float64(rows) {
			b.Fatalf("import = %v", imp)
		}
		fmt.Printf("BENCH import_rows_per_s %.0f rows/s\n", rows/took.Seconds())
	}
}

// BenchmarkImportPeakRSS measures import_1m_peak_rss_mb: a child process
// (this test binary, running TestImportChildProcess) starts the service,
// uploads a 1,000,000-row file to it over HTTP, waits for the import to
// finish and reports its own peak resident set (VmHWM in
// /proc/self/status). A child of its own keeps the benchmark's file
// generation and this process's memory out of the number.
func BenchmarkImportPeakRSS(b *testing.B) {
	const rows = 1_000_000
	dir := b.TempDir()
	path := writeSample(b, dir, rows)
	n := testkit.StartNATS(b)
	for b.Loop() {
		dsn := testkit.Database(b, migrations.FS)
		cmd := exec.Command(os.Args[0], "-test.run=^TestImportChildProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "CONTACTS_BENCH_CHILD=1", "CONTACTS_BENCH_DSN="+dsn,
			"CONTACTS_BENCH_NATS="+n.URL(), "CONTACTS_BENCH_NATS_SEED="+n.Seed(natsauth.Contacts), "CONTACTS_BENCH_FILE="+path, "CONTACTS_BENCH_DIR="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("child: %v\n%s", err, out.String())
		}
		var peakKB, read int64
		var secs float64
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "CHILD_RESULT "); ok {
				_, err := fmt.Sscanf(line, "rows=%d peak_kb=%d secs=%f", &read, &peakKB, &secs)
				if err != nil {
					b.Fatalf("child result %q: %v", line, err)
				}
			}
		}
		if read != rows || peakKB == 0 {
			b.Fatalf("child imported %d rows, peak %d kB:\n%s", read, peakKB, out.String())
		}
		b.Logf("1,000,000 rows in %.1fs (%.0f rows/s)", secs, rows/secs)
		fmt.Printf("BENCH import_1m_peak_rss_mb %.0f MB\n", float64(peakKB)/1024)
	}
}

// TestImportChildProcess is the child of BenchmarkImportPeakRSS; it is
// skipped unless that benchmark started it.
func TestImportChildProcess(t *testing.T) {
	if os.Getenv("CONTACTS_BENCH_CHILD") == "" {
		t.Skip("run by BenchmarkImportPeakRSS")
	}
	cfg := app.DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.TrustedCallers = svcauthtest.Trusted()
	cfg.ErasureKey = "contacts-erasure-key-for-these-tests-0123456789"
	cfg.DatabaseURL = os.Getenv("CONTACTS_BENCH_DSN")
	cfg.NATSURL, cfg.NATSSeed = os.Getenv("CONTACTS_BENCH_NATS"), os.Getenv("CONTACTS_BENCH_NATS_SEED")
	cfg.ImportDir = os.Getenv("CONTACTS_BENCH_DIR")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := app.New(ctx, cfg, zap.NewNop(), app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.Run(ctx) }()
	start := time.Now()
	imp := importFile(t, a.URL(), os.Getenv("CONTACTS_BENCH_FILE"))
	took := time.Since(start)
	if imp["state"] != "done" {
		t.Fatalf("import = %v", imp)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var peakKB int64
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			peakKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	fmt.Printf("CHILD_RESULT rows=%d peak_kb=%d secs=%f\n", int64(imp["rows_read"].(float64)), peakKB, took.Seconds())
}

// seed fills a database with n sample contacts by COPY (the audience
// benchmarks measure reading, not importing) and opts every tenth phone
// out.
func seed(tb testing.TB, dsn string, n int) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now()
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"contacts"},
		[]string{"member_id", "first_name", "last_name", "phone", "email", "language", "tags", "attributes", "created_at", "updated_at"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			tags := []string{"member"}
			if i%3 == 0 {
				tags = append(tags, "night-shift")
			}
			return []any{sample.MemberID(i), "First" + strconv.Itoa(i%97), "Last" + strconv.Itoa(i%89), sample.Phone(i), sample.Email(i),
				"en", tags, map[string]string{"worksite": sample.Worksite(i), "shift": "night"}, now, now}, nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO consent (channel, address, status, source, changed_at)
		SELECT 'sms', phone, 'opted_out', 'inbound_sms', $1::timestamptz FROM contacts WHERE right(phone, 1) = '7'`, now)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE contacts; ANALYZE consent`); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkAudienceCount measures audience_count_ms: the median of 21
// POST /audiences/count calls (tag and worksite filter) over 100,000
// contacts, end to end over HTTP.
func BenchmarkAudienceCount(b *testing.B) {
	dsn := testkit.Database(b, migrations.FS)
	seed(b, dsn, 100_000)
	url := startQuiet(b, dsn, testkit.StartNATS(b))
	body := []byte(`{"filter":{"all":[{"tag":"night-shift"},{"field":"worksite","op":"eq","value":"North Clinic"}]},"channel":"sms"}`)
	hc := api()
	for b.Loop() {
		var runs []time.Duration
		var total float64
		for range 21 {
			start := time.Now()
			resp, err := hc.Post(url+"/audiences/count", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			var c map[string]any
			err = json.NewDecoder(resp.Body).Decode(&c)
			resp.Body.Close()
			runs = append(runs, time.Since(start))
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("count = %d %v", resp.StatusCode, err)
			}
			total, _ = c["total"].(float64)
		}
		// Every 15th row is night-shift at North Clinic (i%3 == 0, i%5 == 0).
		if total != 100_000/15+1 {
			b.Fatalf("total = %v, want %d", total, 100_000/15+1)
		}
		sort.Slice(runs, func(i, j int) bool { return runs[i] < runs[j] })
		fmt.Printf("BENCH audience_count_ms %.1f ms\n", float64(runs[len(runs)/2].Microseconds())/1000)
	}
}

// BenchmarkAudiencePage measures audience_page_per_s: the whole audience
// of 100,000 contacts (tag member, sms) paged over NATS request/reply in
// pages of 500, as campaigns' fan-out asks for it, members per second.
func BenchmarkAudiencePage(b *testing.B) {
	dsn := testkit.Database(b, migrations.FS)
	seed(b, dsn, 100_000)
	n := testkit.StartNATS(b)
	startQuiet(b, dsn, n)
	nc, _, err := stream.Connect(n.URL(), "bench", zap.NewNop(), n.ClientOptions(natsauth.Campaigns)...)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	for b.Loop() {
		start := time.Now()
		members, after := 0, ""
		for {
			req, _ := json.Marshal(events.AudiencePageRequest{Tag: "member", Channel: events.ChannelSMS, After: after, Limit: 500})
			msg, err := nc.Request(events.SubjectAudiencePage, req, 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			var p events.AudiencePage
			if err := json.Unmarshal(msg.Data, &p); err != nil || p.Error != "" {
				b.Fatalf("page: %v %q", err, p.Error)
			}
			members += len(p.Members)
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		took := time.Since(start)
		if members != 90_000 { // a tenth of the phones (ending in 7) opted out
			b.Fatalf("paged %d members, want 90000", members)
		}
		fmt.Printf("BENCH audience_page_per_s %.0f contacts/s\n", float64(members)/took.Seconds())
	}
}
