package sim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// maxWebhookResponse caps how much of a webhook's answer is read.
const maxWebhookResponse = 1 << 20

// ErrNoInboundURL is returned by SendReply when Config.InboundURL is empty,
// because there is nowhere to deliver the member's message.
var ErrNoInboundURL = errors.New("inbound url not configured")

// ErrInvalidReply is returned by SendReply when the reply lacks From or To.
var ErrInvalidReply = errors.New("reply needs from and to")

// Reply is an SMS a member's phone sends to the platform, as /sim/reply
// takes it.
type Reply struct {
	From       string `json:"from"`
	To         string `json:"to"`
	Body       string `json:"body"`
	OptOutType string `json:"opt_out_type"` // e.g. STOP, START, HELP; sent as OptOutType when set
}

// ReplyResult is what the platform's inbound webhook did with a Reply, so
// tests can assert on the answer and on TwiML replies it caused.
type ReplyResult struct {
	StatusCode int       `json:"status_code"`
	Body       string    `json:"body"`
	Sid        string    `json:"sid"`
	Replies    []Message `json:"replies"`
}

// SendReply posts a signed Twilio inbound-message webhook for r to
// Config.InboundURL. Each TwiML <Message> in a 2xx answer is recorded in
// the outbox as an "outbound-reply" from r.To to r.From, as Twilio would
// send it.
func (s *Server) SendReply(ctx context.Context, r Reply) (ReplyResult, error) {
	if s.cfg.InboundURL == "" {
		return ReplyResult{}, ErrNoInboundURL
	}
	if r.From == "" || r.To == "" {
		return ReplyResult{}, ErrInvalidReply
	}
	sid := newSID("SM")
	p := url.Values{}
	p.Set("MessageSid", sid)
	p.Set("SmsSid", sid)
	p.Set("SmsMessageSid", sid)
	p.Set("AccountSid", s.cfg.AccountSID)
	p.Set("From", r.From)
	p.Set("To", r.To)
	p.Set("Body", r.Body)
	p.Set("NumMedia", "0")
	p.Set("NumSegments", strconv.Itoa(Segments(r.Body)))
	p.Set("SmsStatus", "received")
	p.Set("ApiVersion", apiVersion)
	if r.OptOutType != "" {
		p.Set("OptOutType", r.OptOutType)
	}
	code, body, err := s.postSigned(ctx, s.cfg.InboundURL, p, maxWebhookResponse)
	if err != nil {
		return ReplyResult{}, fmt.Errorf("post inbound webhook: %w", err)
	}
	res := ReplyResult{StatusCode: code, Body: string(body), Sid: sid, Replies: []Message{}}
	if code < 200 || code >= 300 {
		return res, nil
	}
	msgs, err := parseTwiML(body)
	if err != nil {
		s.log.Debug("inbound webhook answer is not twiml", zap.Error(err))
		return res, nil
	}
	for _, tm := range msgs {
		now := s.cfg.Clock().UTC()
		m := Message{
			Sid:            newSID("SM"),
			AccountSid:     s.cfg.AccountSID,
			To:             firstNonEmpty(tm.To, r.From),
			From:           firstNonEmpty(tm.From, r.To),
			Body:           tm.text(),
			Status:         "queued",
			Direction:      "outbound-reply",
			StatusCallback: tm.StatusCallback,
			CreatedAt:      now,
			UpdatedAt:      now,
		}
		m.NumSegments = Segments(m.Body)
		s.msgs.add(m)
		s.scheduleCallbacks(m.Sid)
		res.Replies = append(res.Replies, m)
	}
	return res, nil
}

// twimlMessage is a TwiML <Message> verb: text directly inside, or in
// <Body> children.
type twimlMessage struct {
	To             string   `xml:"to,attr"`
	From           string   `xml:"from,attr"`
	StatusCallback string   `xml:"statusCallback,attr"`
	Text           string   `xml:",chardata"`
	Bodies         []string `xml:"Body"`
}

func (m twimlMessage) text() string {
	if len(m.Bodies) > 0 {
		return strings.TrimSpace(strings.Join(m.Bodies, ""))
	}
	return strings.TrimSpace(m.Text)
}

// parseTwiML returns the <Message> verbs of a TwiML <Response>; an empty
// answer has none.
func parseTwiML(body []byte) ([]twimlMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var doc struct {
		XMLName  xml.Name       `xml:"Response"`
		Messages []twimlMessage `xml:"Message"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse twiml: %w", err)
	}
	return doc.Messages, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
