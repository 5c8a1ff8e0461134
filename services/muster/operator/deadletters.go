package operator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// A dead letter's id is its sequence in the DEADLETTER stream: what
// JetStream reads and deletes it by.
func deadLetters(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("dead-letters: want list, inspect, retry or discard")
	}
	var consumer string
	var id uint64
	switch args[0] {
	case "list":
		fs := flag.NewFlagSet("dead-letters list", flag.ContinueOnError)
		fs.SetOutput(out)
		fs.StringVar(&consumer, "consumer", "", "only this consumer's dead letters")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
	case "inspect", "retry", "discard":
		if len(args) != 2 {
			return fmt.Errorf("dead-letters %s: want one id (the first column of dead-letters list)", args[0])
		}
		var err error
		if id, err = strconv.ParseUint(args[1], 10, 64); err != nil || id == 0 {
			return fmt.Errorf("dead-letters %s: %q is not a dead letter id (the first column of dead-letters list)", args[0], args[1])
		}
	default:
		return fmt.Errorf("dead-letters: unknown command %q: want list, inspect, retry or discard", args[0])
	}
	js, closeNATS, err := connect(cfg)
	if err != nil {
		return err
	}
	defer closeNATS()
	s, err := js.Stream(ctx, events.StreamDeadLetter)
	if err != nil {
		return fmt.Errorf("opening the %s stream: %w", events.StreamDeadLetter, err)
	}
	switch args[0] {
	case "list":
		return listDeadLetters(ctx, s, consumer, out)
	case "inspect":
		dl, err := readDeadLetter(ctx, s, id)
		if err != nil {
			return err
		}
		return printDeadLetter(out, id, dl)
	case "retry":
		return retryDeadLetter(ctx, js, s, id, out)
	default:
		dl, err := readDeadLetter(ctx, s, id)
		if err != nil {
			return err
		}
		if err := printDeadLetter(out, id, dl); err != nil {
			return err
		}
		if err := s.DeleteMsg(ctx, id); err != nil {
			return fmt.Errorf("discarding dead letter %d: %w", id, err)
		}
		_, err = fmt.Fprintf(out, "discarded %d\n", id)
		return err
	}
}

// listDeadLetters prints one line per dead letter, oldest first: id,
// consumer, when, deliveries, subject and the error.
func listDeadLetters(ctx context.Context, s jetstream.Stream, consumer string, out io.Writer) error {
	filter := events.SubjectDeadLetterPrefix + ">"
	if consumer != "" {
		filter = events.SubjectDeadLetterPrefix + consumer
	}
	n := 0
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading dead letters: %w", err)
		}
		seq = m.Sequence + 1
		n++
		dl, err := events.Decode[events.DeadLettered](m.Data)
		if err != nil {
			if _, err := fmt.Fprintf(out, "%d %s unreadable dead letter: %v\n", m.Sequence, strings.TrimPrefix(m.Subject, events.SubjectDeadLetterPrefix), err); err != nil {
				return fmt.Errorf("printing: %w", err)
			}
			continue
		}
		if _, err := fmt.Fprintf(out, "%d %s %s deliveries=%d subject=%s error=%q\n", m.Sequence, dl.Consumer,
			dl.OccurredAt.UTC().Format("2006-01-02T15:04:05Z"), dl.Deliveries, dl.Subject, dl.Error); err != nil {
			return fmt.Errorf("printing: %w", err)
		}
	}
	if n == 0 {
		_, err := fmt.Fprintln(out, "no dead letters")
		return err
	}
	return nil
}

func readDeadLetter(ctx context.Context, s jetstream.Stream, id uint64) (events.DeadLettered, error) {
	m, err := s.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.DeadLettered{}, fmt.Errorf("no dead letter %d", id)
	}
	if err != nil {
		return events.DeadLettered{}, fmt.Errorf("reading dead letter %d: %w", id, err)
	}
	dl, err := events.Decode[events.DeadLettered](m.Data)
	if err != nil {
		return events.DeadLettered{}, fmt.Errorf("dead letter %d is unreadable: %w", id, err)
	}
	return dl, nil
}

func printDeadLetter(out io.Writer, id uint64, dl events.DeadLettered) error {
	data := string(dl.Data)
	if !utf8.Valid(dl.Data) {
		data = fmt.Sprintf("%q", dl.Data)
	}
	_, err := fmt.Fprintf(out, "id: %d\nevent: %s\nconsumer: %s\nat: %s\ndeliveries: %d\nsubject: %s\ncorrelation: %s\nerror: %s\ndata: %s\n",
		id, dl.ID, dl.Consumer, dl.OccurredAt.UTC().Format("2006-01-02T15:04:05Z"), dl.Deliveries, dl.Subject, dl.CorrelationID, dl.Error, data)
	if err != nil {
		return fmt.Errorf("printing: %w", err)
	}
	return nil
}

// retryDeadLetter publishes the original message again and only then
// removes the dead letter: a failed publish keeps it. A send request goes
// back on delivery.retry.<channel>, as delivery's own retry does, and
// carries its idempotency key, so a retry never sends a message twice.
// The publish is deduplicated on the dead letter's event id, so running
// retry again after a failed removal does not publish twice either.
func retryDeadLetter(ctx context.Context, js jetstream.JetStream, s jetstream.Stream, id uint64, out io.Writer) error {
	dl, err := readDeadLetter(ctx, s, id)
	if err != nil {
		return err
	}
	subject := RetrySubject(dl.Subject)
	msg := stream.RetryMsg(subject, dl.Data)
	if dl.CorrelationID != "" {
		msg.Header.Set("Correlation-Id", dl.CorrelationID)
	}
	if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("retry."+dl.ID)); err != nil {
		return fmt.Errorf("retrying dead letter %d on %s (it is kept): %w", id, subject, err)
	}
	if err := s.DeleteMsg(ctx, id); err != nil {
		return fmt.Errorf("dead letter %d was published again on %s but is still kept: %w", id, subject, err)
	}
	_, err = fmt.Fprintf(out, "retried %d on %s\n", id, subject)
	return err
}

// RetrySubject is where a dead letter first published to subject is
// published again: a send request's retry subject (only campaigns may
// publish delivery.send.*), or subject itself. The same rule as
// delivery's own retry (services/delivery/api).
func RetrySubject(subject string) string {
	if ch, ok := strings.CutPrefix(subject, events.SubjectSendPrefix); ok {
		return events.RetrySubject(events.Channel(ch))
	}
	return subject
}
