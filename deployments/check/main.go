// Command check validates Muster's deployment files offline, where no
// schema can be downloaded and no cluster is at hand: `make deploy-check`
// runs it.
//
//	check [-nats-conf FILE]... [MANIFEST.yaml | -]...
//
// Kubernetes manifests (files, or a `kustomize build` on stdin with "-")
// are decoded strictly into the typed objects of k8s.io/api, so an unknown
// or misspelt field, a wrong type or a duplicate key fails; each object is
// then checked against the structured schema the API server uses for
// server-side apply (duplicate list keys such as two env vars of one name).
// On top of that it checks what this project relies on: probes, resources,
// the restricted Pod Security Standard, Services, PodDisruptionBudgets and
// references that find their target, the NATS cluster agreeing with
// itself and with the services' settings (its TLS certificate loaded, and
// checked when it is a real one), NetworkPolicies (default-deny in every
// namespace, every workload named by an allow, every configured in-cluster
// address allowed at both ends) and Ingresses (only the public edge, over
// TLS, to pods that admit the controller). NATS configuration files
// (-nats-conf) are parsed and validated by nats-server's own code.
//
// What it cannot check: admission rules only a live API server applies
// (enum values, required fields it does not list below, defaulting), and
// whether the images exist.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(1)
	}
}

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func run(args []string, stdin io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	var natsConfs stringList
	fs.Var(&natsConfs, "nats-conf", "a nats-server configuration file to validate (repeatable), with the other .conf files of its directory (its includes); $NATS_SERVER_NAME and its $NATS_<USER>_NKEY keys are set for it, and files under /etc/nats/tls/ are throwaway certificates")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var problems []string
	for _, path := range natsConfs {
		opts, _, err := loadNATSConfig(path, map[string]string{"NATS_SERVER_NAME": "nats-1"})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		for _, p := range checkNATSOptions(opts, natsExpect{}) {
			problems = append(problems, fmt.Sprintf("%s: %s", path, p))
		}
		fmt.Fprintf(out, "checked %s: nats-server accepts it (jetstream %v, sync always %v, %d routes, %d users, tls %v)\n",
			path, opts.JetStream, opts.SyncAlways, len(opts.Routes), len(opts.Nkeys)+len(opts.Users), opts.TLSConfig != nil)
	}
	if fs.NArg() > 0 {
		var docs []document
		for _, path := range fs.Args() {
			var (
				data []byte
				err  error
			)
			if path == "-" {
				path = "<stdin>"
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(path)
			}
			if err != nil {
				return err
			}
			d, errs := decodeAll(path, data)
			docs = append(docs, d...)
			problems = append(problems, errs...)
		}
		problems = append(problems, checkObjects(docs)...)
		fmt.Fprintf(out, "checked %d Kubernetes objects from %s\n", len(docs), strings.Join(fs.Args(), " "))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(out, "FAIL", p)
		}
		return fmt.Errorf("%d problem(s)", len(problems))
	}
	return nil
}
