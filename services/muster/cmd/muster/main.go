// Command muster is the operator's CLI: which build every service runs,
// the dead letters of every consumer, consumer lag, and a deployment's
// configuration checked (docs/operations.md, "The operator CLI").
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/musterhq/muster/services/muster/operator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := operator.Run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "muster:", err)
		os.Exit(1)
	}
}
