package testkit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a database or cache server a test runs as a child process of
// its own, so it can stop and start it mid-run without touching the
// machine's shared servers.
type Server struct {
	t     testing.TB
	Port  int
	start func() (*exec.Cmd, error)
	stop  func(*exec.Cmd) error
	// ready reports whether the server takes work (an open port is not
	// enough for PostgreSQL, which refuses clients while starting up).
	ready func() error
	cmd   *exec.Cmd
}

// Start (re)starts the server on its port and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	cmd, err := s.start()
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	if err := waitPort(s.Port, 30*time.Second); err != nil {
		s.Stop()
		s.t.Fatal(err)
	}
	if s.ready == nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.ready()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("server on %d not ready: %v", s.Port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server; clients see connection errors until Start.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	if err := s.stop(s.cmd); err != nil {
		s.t.Logf("stopping server on %d: %v", s.Port, err)
	}
	s.cmd = nil
}

// PrivateRedis runs a redis-server of the test's own on a free port, with
// nothing kept on disk.
func PrivateRedis(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (deployments/local/ensure-services.sh installs it): %v", err)
	}
	s := &Server{t: t, Port: FreePort(t)}
	s.start = func() (*exec.Cmd, error) {
		cmd := exec.Command(bin, "--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting redis-server: %w", err)
		}
		return cmd, nil
	}
	s.stop = func(cmd *exec.Cmd) error {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return nil
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the Redis URL of a private Redis server.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port) }

// PrivatePostgres runs a PostgreSQL cluster of the test's own (initdb in a
// temp dir, trust auth, fsync on as in production) on a free port. It runs
// as the postgres user when the test runs as root, since PostgreSQL
// refuses to run as root.
func PrivatePostgres(t testing.TB) *Server {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "muster-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	asPG := func(name string, args ...string) *exec.Cmd {
		if os.Geteuid() != 0 {
			return exec.Command(name, args...)
		}
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	if os.Geteuid() == 0 {
		if err := chownToPostgres(dir); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := asPG(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s := &Server{t: t, Port: FreePort(t)}
	s.start = func() (*exec.Cmd, error) {
		cmd := asPG(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.Port), "-k", dir, "-c", "listen_addresses=127.0.0.1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting postgres: %w", err)
		}
		return cmd, nil
	}
	s.stop = func(cmd *exec.Cmd) error {
		// SIGINT is PostgreSQL's fast shutdown: clients are cut off at once.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		return nil
	}
	s.ready = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.AdminURL())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// AdminURL is the admin database URL of a private PostgreSQL server.
func (s *Server) AdminURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
}

func postgresBin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(matches) == 0 {
		return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql (deployments/local/ensure-services.sh installs them)")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

func chownToPostgres(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("looking up the postgres user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("handing %s to postgres: %w", dir, err)
	}
	return nil
}

// FreePort is a loopback port nothing listens on right now, for a server
// a test starts later. It is taken below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range, 32768 and up by default): a port the
// kernel hands out itself ("127.0.0.1:0") can be taken in the meantime
// as the local end of any outgoing connection (to PostgreSQL, NATS,
// Redis), and the server then fails to bind.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := FreeLoopbackPort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// FreeLoopbackPort is FreePort for code that has no test: the dev stack
// reserving a port for a service it starts a moment later.
func FreeLoopbackPort(host string) (int, error) {
	for range 200 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue // someone's: try another
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port on %s between 20000 and 32000", host)
}

func waitPort(port int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nothing listening on port %d after %s", port, within)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
