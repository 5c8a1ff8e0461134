package operator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
)

// replayable says whether an operator may replay a stream, and why:
// why handling its messages twice changes nothing, or why it might.
func replayable(stream string) (ok bool, known bool, why string) {
	switch stream {
	case events.StreamSend:
		return true, true, "delivery records each send request once by its idempotency key: a replayed request " +
			"whose message is in the log is not sent again (SEND is a work queue: only requests not yet taken are still there)"
	case events.StreamMessages:
		return true, true, "campaigns counts each message's status once per message and step, and keeps each reply " +
			"once by its event id: a replayed status or reply changes no number and answers nobody twice"
	case events.StreamErasure:
		return true, true, "erasing an erased member again changes nothing (ERASURE keeps an event only until both " +
			"consumers took it)"
	case events.StreamConsent:
		return false, true, "a consent change replayed after a newer one could lift an opt-out in delivery's suppression " +
			"list; contacts' ledger would be safe, delivery's list is not proven so"
	case events.StreamRhythm:
		return false, true, "a member's older rhythm choice replayed would show as their latest on the member page"
	case events.StreamDeadLetter:
		return false, true, "dead letters are retried one by one: muster dead-letters retry <id>"
	}
	return false, false, ""
}

// replay republishes a range of a stream's messages to their subjects,
// for consumers to handle again (after a fix to a handler, or a restore).
// Each goes out with a new message id (replay.<stream>.<seq>), so the
// stream's duplicate window does not drop it; consumers' idempotency is
// what keeps it from acting twice, which is why only streams whose every
// consumer is idempotent may be replayed.
func replay(ctx context.Context, js jetstream.JetStream, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(out)
	from := fs.Uint64("from", 0, "first sequence to replay")
	to := fs.Uint64("to", 0, "last sequence to replay")
	if len(args) == 0 {
		return fmt.Errorf("usage: muster replay <stream> --from <seq> --to <seq>")
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ok, known, why := replayable(name)
	if !known {
		return fmt.Errorf("replay: unknown stream %q", name)
	}
	if !ok {
		return fmt.Errorf("replay refused for %s: %s", name, why)
	}
	if *from == 0 || *to < *from {
		return fmt.Errorf("replay %s: want --from <seq> --to <seq> with 1 <= from <= to", name)
	}
	if *to-*from >= 100_000 {
		return fmt.Errorf("replay %s: at most 100000 messages at once", name)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("reading stream %s: %w", name, err)
	}
	var replayed, missing int
	for seq := *from; seq <= *to; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			missing++ // acknowledged from a work queue, or aged out
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s #%d (%d replayed): %w", name, seq, replayed, err)
		}
		msg := &nats.Msg{Subject: m.Subject, Data: m.Data, Header: nats.Header{}}
		for k, v := range m.Header {
			if k != jetstream.MsgIDHeader {
				msg.Header[k] = v
			}
		}
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("replay."+name+"."+strconv.FormatUint(seq, 10))); err != nil {
			return fmt.Errorf("republishing %s #%d (%d replayed): %w", name, seq, replayed, err)
		}
		replayed++
	}
	_, err = fmt.Fprintf(out, "replayed %d messages of %s (#%d-#%d; %d no longer in the stream)\nsafe because %s\n", replayed, name, *from, *to, missing, why)
	return err
}
