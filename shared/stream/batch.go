package stream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	fastjson "github.com/segmentio/encoding/json"
)

// A batch is one JetStream message that carries many parts, each an
// encoded event a handler could have received in a message of its own
// (campaigns' send requests, a hundred to a message). One message costs
// the broker one replicated publish, delivery and acknowledgement
// however many parts it carries, and on a three-node cluster those were
// a third of a text's CPU.
//
// The runner hands each part to the handler as a Msg of its own, with the
// batch's subject, headers and delivery count, and answers the message
// once every part is done: acknowledged when every part succeeded or was
// dead-lettered on its own; redelivered whole when any part asked to be
// retried (the parts that succeeded see their request again, and
// handlers are idempotent by the part's own key, as they must be for any
// redelivery).
//
// On the wire a batch is a JSON array of its parts, with BatchHeader
// naming the framing's version; a message without the header is one part.

// BatchHeader marks a batch message; its value is the framing's version.
const BatchHeader = "Muster-Batch"

// batchVersion is the only framing this release writes and reads.
const batchVersion = "1"

const (
	// MaxBatchParts bounds the parts of one batch message: enough that
	// the broker's cost per part is a rounding error, few enough that a
	// redelivered batch repeats little.
	MaxBatchParts = 100
	// maxBatchBytes bounds one batch message, far below the streams' 1 MB
	// limit on a message.
	maxBatchBytes = 256 << 10
)

// BatchWriter packs encoded parts into batch messages. Its zero value is
// not usable; see NewBatchWriter.
type BatchWriter struct {
	buf   []byte
	parts int
	keys  hash.Hash
}

// NewBatchWriter is a writer with nothing packed.
func NewBatchWriter() *BatchWriter {
	return &BatchWriter{keys: sha256.New()}
}

// Fits says whether a part of n bytes fits in the batch being packed;
// when it does not, take the batch with Msg first.
func (w *BatchWriter) Fits(n int) bool {
	return w.parts == 0 || (w.parts < MaxBatchParts && len(w.buf)+1+n+1 <= maxBatchBytes)
}

// Add packs one encoded part; key is the part's own idempotency key.
func (w *BatchWriter) Add(part []byte, key string) {
	if w.parts == 0 {
		w.buf = append(w.buf[:0], '[')
		w.keys.Reset()
	} else {
		w.buf = append(w.buf, ',')
	}
	w.buf = append(w.buf, part...)
	w.keys.Write([]byte(key))
	w.keys.Write([]byte{0})
	w.parts++
}

// Len is the number of parts packed and not yet taken.
func (w *BatchWriter) Len() int { return w.parts }

// Msg takes the packed batch as a message to subject and starts a new
// one. Its
// Nats-Msg-Id is a digest of its parts' keys in order: the same parts
// published again (a page retried after a crash) are stored once, and a
// batch with any other part is a different message, never dropped as a
// duplicate of one that lacked it.
func (w *BatchWriter) Msg(subject string) *nats.Msg {
	data := make([]byte, len(w.buf)+1)
	copy(data, w.buf)
	data[len(w.buf)] = ']'
	id := "batch." + hex.EncodeToString(w.keys.Sum(nil)[:16])
	w.parts = 0
	return &nats.Msg{Subject: subject, Data: data,
		Header: nats.Header{jetstream.MsgIDHeader: []string{id}, BatchHeader: []string{batchVersion}}}
}

// RetryMsg is a dead letter's data to publish again on subject, marked
// as a batch when it is one: a batch dead-lettered whole (by a delivery
// released before batches, or one that could not read its framing) is
// kept as its JSON array, without its headers, and must go back as a
// batch to be read as one. A single event is a JSON object, never an
// array.
func RetryMsg(subject string, data []byte) *nats.Msg {
	msg := nats.NewMsg(subject)
	msg.Data = data
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		msg.Header.Set(BatchHeader, batchVersion)
	}
	return msg
}

// errBatchFraming is a batch this release cannot read.
var errBatchFraming = errors.New("unreadable batch")

// Parts splits a message into the parts its handler sees: the message's
// data when it is not a batch, else the batch's elements. The runner does
// this for handlers; a reader of the stream outside the runner (a test
// standing in for delivery) calls it itself.
func Parts(header nats.Header, data []byte) ([][]byte, error) {
	v := header.Get(BatchHeader)
	if v == "" {
		return [][]byte{data}, nil
	}
	if v != batchVersion {
		return nil, fmt.Errorf("%w: framing version %q, this release reads %s", errBatchFraming, v, batchVersion)
	}
	var raw []fastjson.RawMessage
	if err := fastjson.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", errBatchFraming, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: no parts", errBatchFraming)
	}
	out := make([][]byte, len(raw))
	for i, r := range raw {
		out[i] = r
	}
	return out, nil
}
