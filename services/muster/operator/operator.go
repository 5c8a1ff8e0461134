// Package operator is the muster CLI: Run parses the subcommand and
// prints its answer for a person or a script to read.
package operator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/buildinfo"
	"github.com/musterhq/muster/shared/cli"
	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/stream"
	"github.com/musterhq/muster/shared/svcauth"
)

const usage = `usage: muster <command>
  version                          this build and every service's
  dead-letters list [--consumer C] the dead letters of every consumer (or C's)
  dead-letters inspect <id>        one dead letter, with its message
  dead-letters retry <id>          publish its message again, then remove it
  dead-letters discard <id>        print it, then remove it
  lag                              every consumer's pending, ack pending, redelivered
  check [--env FILE]               a deployment's settings and whether its URLs answer
  erase <contact-id>               erase a member everywhere (docs/operations.md, "Erasing a member")
  purge-now [service]              run contacts', campaigns' and delivery's retention purge now (or one's)
  replay <stream> --from N --to M  republish a range of SEND, MESSAGES or ERASURE for its consumers`

// Run runs the subcommand in args, writing to out. MUSTER_OPERATOR_*
// say where the services and NATS are (Config).
func Run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command\n%s", usage)
	}
	rest := args[1:]
	// Commands that need nothing but their arguments.
	switch args[0] {
	case "check":
		return check(ctx, rest, out)
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(out, usage)
		return err
	}
	// Commands that call the services with the operator's settings.
	withConfig := map[string]func(context.Context, Config, []string, io.Writer) error{
		"version": func(ctx context.Context, cfg Config, _ []string, out io.Writer) error {
			if err := cli.Version(out, "muster"); err != nil {
				return err
			}
			return versions(ctx, cfg, out)
		},
		"dead-letters": deadLetters,
		"purge-now":    purgeNow,
		"erase":        erase,
	}
	// Commands that read or write streams as the NATS admin.
	withNATS := map[string]func(context.Context, jetstream.JetStream, []string, io.Writer) error{
		"lag": func(ctx context.Context, js jetstream.JetStream, _ []string, out io.Writer) error {
			return lag(ctx, js, out)
		},
		"replay": replay,
	}
	command, needsConfig := withConfig[args[0]]
	streams, needsNATS := withNATS[args[0]]
	if !needsConfig && !needsNATS {
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
	cfg, err := LoadConfig()
	if err != nil {
		return err
	}
	if needsConfig {
		return command(ctx, cfg, rest, out)
	}
	js, closeNATS, err := connect(cfg)
	if err != nil {
		return err
	}
	defer closeNATS()
	return streams(ctx, js, rest, out)
}

// connect reaches NATS as its admin user: the only user that may read
// every stream and delete a message.
func connect(cfg Config) (jetstream.JetStream, func(), error) {
	if cfg.NATSSeed == "" {
		return nil, nil, fmt.Errorf("no nats admin credentials: set MUSTER_OPERATOR_NATS_SEED or MUSTER_OPERATOR_NATS_SEED_FILE")
	}
	opts, err := natsauth.ClientOptions(natsauth.Admin, cfg.NATSSeed, cfg.NATSCAFile)
	if err != nil {
		return nil, nil, fmt.Errorf("MUSTER_OPERATOR_NATS_SEED: %w", err)
	}
	opts = append(opts, nats.MaxReconnects(0))
	nc, js, err := stream.Connect(cfg.NATSURL, "muster-operator", zap.NewNop(), opts...)
	if err != nil {
		return nil, nil, err
	}
	return js, nc.Close, nil
}

// versions prints each service's muster_build_info, read from /metrics
// with an operator's service token (or the metrics token).
func versions(ctx context.Context, cfg Config, out io.Writer) error {
	var signer *svcauth.Signer
	if cfg.ServiceKey != "" {
		key, err := svcauth.ParsePrivateKey(cfg.ServiceKey)
		if err != nil {
			return fmt.Errorf("MUSTER_OPERATOR_SERVICE_KEY: %w", err)
		}
		if signer, err = svcauth.NewSigner("operator", key, time.Now); err != nil {
			return err
		}
	} else if cfg.MetricsToken == "" {
		return fmt.Errorf("no credentials for the services' /metrics: set MUSTER_OPERATOR_SERVICE_KEY(_FILE) or MUSTER_OPERATOR_METRICS_TOKEN")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	failed := 0
	for _, s := range cfg.services() {
		line, err := serviceVersion(ctx, client, signer, cfg.MetricsToken, s.name, s.url)
		if err != nil {
			failed++
			line = fmt.Sprintf("%s unknown (%v)", s.name, err)
		}
		if _, err := fmt.Fprintln(out, line); err != nil {
			return fmt.Errorf("printing: %w", err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d services did not say their version", failed)
	}
	return nil
}

func serviceVersion(ctx context.Context, client *http.Client, signer *svcauth.Signer, metricsToken, name, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return "", fmt.Errorf("%s url: %w", name, err)
	}
	if signer != nil {
		if err := signer.Authorize(req, name); err != nil {
			return "", err
		}
	} else {
		req.Header.Set("Authorization", "Bearer "+metricsToken)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", req.URL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", fmt.Errorf("reading %s metrics: %w", name, err)
	}
	info, ok := buildInfo(string(body))
	if !ok {
		return "", fmt.Errorf("no muster_build_info in %s's metrics", name)
	}
	return fmt.Sprintf("%s %s", name, info), nil
}

// buildInfo reads the labels of muster_build_info from Prometheus's text
// format into the form `version` prints.
func buildInfo(metrics string) (buildinfo.Info, bool) {
	for line := range strings.Lines(metrics) {
		rest, ok := strings.CutPrefix(line, "muster_build_info{")
		if !ok {
			continue
		}
		labels, _, _ := strings.Cut(rest, "}")
		l := map[string]string{}
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			l[strings.TrimSpace(k)] = strings.Trim(v, `"`)
		}
		return buildinfo.Info{Version: l["version"], Revision: l["revision"], GoVersion: l["goversion"], Modified: l["modified"] == "true"}, true
	}
	return buildinfo.Info{}, false
}
