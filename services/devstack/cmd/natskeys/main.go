// Command natskeys makes a fresh nkey pair for every NATS user of the
// permission table (shared/natsauth) and prints them as an environment
// file: each service's seed (CONTACTS_NATS_SEED, ...) and each public key
// the NATS servers read (NATS_CONTACTS_NKEY, ...). Compose takes it as
// .env, Kubernetes as a Secret:
//
//	go run ./services/devstack/cmd/natskeys > nats.env
//	kubectl -n muster create secret generic muster-nats-keys --from-env-file=nats.env
//
// Seeds are secrets: keep the file out of git and readable by you alone.
// To rotate one user's key, run it again and replace that user's two lines.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/musterhq/muster/shared/cli"
	"github.com/musterhq/muster/shared/natsauth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "natskeys:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		return cli.Version(os.Stdout, "natskeys")
	}
	seeds, err := natsauth.NewSeeds()
	if err != nil {
		return err
	}
	env, err := seeds.Env()
	if err != nil {
		return err
	}
	_, err = fmt.Printf("# Muster NATS keys, made %s by natskeys. Seeds are secrets.\n%s", time.Now().UTC().Format(time.DateOnly), env)
	return err
}
