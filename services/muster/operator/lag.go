package operator

import (
	"context"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// lag prints every consumer of every stream: messages not yet handed out
// (its lag), handed out and not acknowledged, and redelivered.
func lag(ctx context.Context, js jetstream.JetStream, out io.Writer) error {
	streams := js.ListStreams(ctx)
	n := 0
	for si := range streams.Info() {
		s, err := js.Stream(ctx, si.Config.Name)
		if err != nil {
			return fmt.Errorf("opening stream %s: %w", si.Config.Name, err)
		}
		consumers := s.ListConsumers(ctx)
		for ci := range consumers.Info() {
			n++
			if _, err := fmt.Fprintf(out, "%s %s pending=%d ack_pending=%d redelivered=%d\n",
				si.Config.Name, ci.Name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered); err != nil {
				return fmt.Errorf("printing: %w", err)
			}
		}
		if err := consumers.Err(); err != nil {
			return fmt.Errorf("listing the consumers of %s: %w", si.Config.Name, err)
		}
	}
	if err := streams.Err(); err != nil {
		return fmt.Errorf("listing streams: %w", err)
	}
	if n == 0 {
		_, err := fmt.Fprintln(out, "no consumers")
		return err
	}
	return nil
}
