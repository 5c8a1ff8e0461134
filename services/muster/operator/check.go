package operator

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"

	campaigns "github.com/musterhq/muster/services/campaigns/app"
	console "github.com/musterhq/muster/services/console/app"
	contacts "github.com/musterhq/muster/services/contacts/app"
	delivery "github.com/musterhq/muster/services/delivery/app"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/service"
	"github.com/musterhq/muster/shared/svcauth"
)

// checked is one service's configuration as check judges it.
type checked struct {
	name     string
	shared   service.Config
	validate func() error
	redis    string
	// api: the service has an internal API and needs trusted callers;
	// caller: it calls others and needs a service key.
	api, caller bool
	// calls are the services it calls, by name, with their URLs.
	calls map[string]string
}

// check reads each service's configuration from a deployment's
// environment (an env file, or this process's), judges it with the
// service's own validation, and tries the URLs it names. It prints one
// line per problem and fails when there is one.
func check(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(out)
	envFile := fs.String("env", "", "the deployment's environment file (default: this process's environment)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	environ := service.Environ()
	if *envFile != "" {
		var err error
		if environ, err = readEnvFile(*envFile); err != nil {
			return err
		}
	}
	var problems []string
	services, err := loadServices(environ)
	if err != nil {
		return err
	}
	for _, s := range services {
		for _, p := range s.problems(ctx) {
			problems = append(problems, s.name+": "+p)
		}
	}
	for _, p := range problems {
		if _, err := fmt.Fprintln(out, p); err != nil {
			return fmt.Errorf("printing: %w", err)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems", len(problems))
	}
	_, err = fmt.Fprintln(out, "ok: every service's settings are valid and its URLs answer")
	return err
}

func loadServices(environ map[string]string) ([]checked, error) {
	ct := contacts.DefaultConfig()
	cp := campaigns.DefaultConfig()
	dl := delivery.DefaultConfig()
	cs := console.DefaultConfig()
	for _, c := range []struct {
		prefix string
		cfg    any
	}{{"CONTACTS_", &ct}, {"CAMPAIGNS_", &cp}, {"DELIVERY_", &dl}, {"CONSOLE_", &cs}} {
		if _, err := service.Overlay(c.prefix, c.cfg, environ); err != nil {
			return nil, err
		}
	}
	return []checked{
		{name: "contacts", shared: ct.Config, api: true},
		{name: "campaigns", shared: cp.Config, validate: cp.Validate, api: true},
		{name: "delivery", shared: dl.Config, validate: dl.Validate, api: true, redis: dl.RedisURL},
		{name: "console", shared: cs.Config, validate: cs.Validate, caller: true, redis: cs.RedisURL,
			calls: map[string]string{"contacts": cs.ContactsURL, "campaigns": cs.CampaignsURL, "delivery": cs.DeliveryURL}},
	}, nil
}

// problems are what is missing, invalid or unreachable, one per line.
func (s checked) problems(ctx context.Context) []string {
	var out []string
	prefix := strings.ToUpper(s.name) + "_"
	if s.validate != nil {
		if err := s.validate(); err != nil {
			for line := range strings.Lines(err.Error()) {
				out = append(out, strings.TrimSpace(line))
			}
		}
	}
	trusted, err := svcauth.ParseTrusted(s.shared.TrustedCallers)
	switch {
	case err != nil:
		out = append(out, prefix+"TRUSTED_CALLERS: "+err.Error())
	case s.api && len(trusted) == 0 && !s.shared.DevMode:
		out = append(out, prefix+"TRUSTED_CALLERS is required")
	}
	if s.shared.MetricsToken != "" && len(s.shared.MetricsToken) < 32 {
		out = append(out, prefix+"METRICS_TOKEN must be at least 32 characters")
	}
	if s.caller {
		if s.shared.ServiceKey == "" && !s.shared.DevMode {
			out = append(out, prefix+"SERVICE_KEY is required")
		} else if s.shared.ServiceKey != "" {
			if _, err := svcauth.ParsePrivateKey(s.shared.ServiceKey); err != nil {
				out = append(out, prefix+"SERVICE_KEY: "+err.Error())
			}
		}
	}
	if s.shared.DatabaseURL == "" {
		out = append(out, prefix+"DATABASE_URL is required")
	} else if err := pingDatabase(ctx, s.shared.DatabaseURL); err != nil {
		out = append(out, prefix+"DATABASE_URL does not answer: "+err.Error())
	}
	if _, usesNATS := natsauth.Lookup(s.name); usesNATS {
		if s.shared.NATSSeed == "" {
			out = append(out, prefix+"NATS_SEED is required")
		} else if err := pingNATS(s.name, s.shared); err != nil {
			out = append(out, prefix+"NATS_URL does not answer as "+s.name+": "+err.Error())
		}
	}
	if s.redis != "" {
		if err := pingRedis(ctx, s.redis); err != nil {
			out = append(out, prefix+"REDIS_URL does not answer: "+err.Error())
		}
	}
	for _, name := range []string{"contacts", "campaigns", "delivery"} {
		if u, ok := s.calls[name]; ok {
			if err := healthz(ctx, u); err != nil {
				out = append(out, fmt.Sprintf("%s%s_URL does not answer: %v", prefix, strings.ToUpper(name), err))
			}
		}
	}
	return out
}

func pingDatabase(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "3D000" {
		return nil // the server answers; the service makes its database at start
	}
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	return conn.Ping(ctx)
}

func pingNATS(name string, cfg service.Config) error {
	opts, err := natsauth.ClientOptions(name, cfg.NATSSeed, cfg.NATSCAFile)
	if err != nil {
		return err
	}
	opts = append(opts, nats.Timeout(5*time.Second), nats.MaxReconnects(0))
	nc, err := nats.Connect(cfg.NATSURL, opts...)
	if err != nil {
		return err
	}
	nc.Close()
	return nil
}

func pingRedis(ctx context.Context, url string) error {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	return c.Ping(ctx).Err()
}

func healthz(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// readEnvFile reads VARIABLE=value lines (compose's .env, kubectl's
// --from-env-file); blank lines and # comments are skipped, and one pair
// of surrounding quotes is removed.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading the environment file: %w", err)
	}
	defer func() { _ = f.Close() }()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the environment file: %w", err)
	}
	return env, nil
}
