// Package sender publishes single send requests to delivery: auto-replies,
// organizers' answers from the inbox and test sends. Each goes through
// delivery like any campaign message, so suppression, quiet hours, caps
// and rate limits all apply, and each carries its own idempotency key as
// its JetStream message id, so a retry never sends twice.
package sender

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/stream"
)

// Sender publishes to the SEND stream.
type Sender struct {
	js jetstream.JetStream
}

// New publishes with js.
func New(js jetstream.JetStream) *Sender { return &Sender{js: js} }

// Send publishes req and waits for JetStream to store it.
func (s *Sender) Send(ctx context.Context, req events.SendRequested) error {
	if req.IdempotencyKey == "" || req.ID != req.IdempotencyKey {
		return fmt.Errorf("send request %q: its event id must be its idempotency key", req.IdempotencyKey)
	}
	return stream.Publish(ctx, s.js, events.SendSubject(req.Channel), req.IdempotencyKey, req)
}

// ReplyKey is the idempotency key of an auto-reply to one inbound message:
// one answer per member's text, however often the text is redelivered.
func ReplyKey(campaignID, inboundEventID, contactID string) string {
	return fmt.Sprintf("c.%s.r.%s.%s.%s", campaignID, inboundEventID, contactID, events.ChannelSMS)
}

// FollowUpKey is the idempotency key of a poll's follow-up to one answer:
// the answer's inbound event names it, so a redelivered webhook never
// texts twice, and a changed answer (a new event) has its own.
func FollowUpKey(campaignID, inboundEventID, contactID string) string {
	return fmt.Sprintf("c.%s.f.%s.%s.%s", campaignID, inboundEventID, contactID, events.ChannelSMS)
}

// InboxKey is the idempotency key of an organizer's answer from the inbox.
func InboxKey(campaignID, replyID string, ch events.Channel) string {
	return fmt.Sprintf("c.%s.i.%s.%s", campaignID, replyID, ch)
}

// TestKey is the idempotency key of a test send before launch; test sends
// never share a key with a member's message.
func TestKey(campaignID, nonce string, ch events.Channel) string {
	return fmt.Sprintf("c.%s.t.%s.test.%s", campaignID, nonce, ch)
}

// TestContactID is the contact id test sends carry: delivery needs one,
// and it names no member. PreviewContactID is the one preview links carry.
const (
	TestContactID    = "test"
	PreviewContactID = "preview"
)

// Step numbers of messages that are not campaign steps. Their keys are of
// their own forms above, so they never collide with a step's.
const (
	ReplyStep = -1
	InboxStep = -2
	TestStep  = -3
)
