// Package contacts asks the contacts service what campaigns needs to know
// about members, over NATS request/reply: pages of an audience (the
// fan-out), an audience's size (before launch) and one member (a
// preview). Campaigns never reads contacts' database.
package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Client makes the requests.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
}

// New asks over nc, waiting at most timeout for each answer.
func New(nc *nats.Conn, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Client{nc: nc, timeout: timeout}
}

// Request is the page request for an audience on a channel.
func Request(a campaign.Audience, ch events.Channel, after string, limit int) events.AudiencePageRequest {
	return events.AudiencePageRequest{Tag: a.Tag, Filter: a.Filter, Channel: ch, After: after, Limit: limit}
}

// ErrNotAnswered means contacts does not answer a subject (not deployed,
// or an older version); callers fall back where they can.
var ErrNotAnswered = errors.New("contacts did not answer")

func (c *Client) ask(ctx context.Context, subject string, req, resp any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", subject, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("%s: %w", subject, ErrNotAnswered)
	}
	if err != nil {
		return fmt.Errorf("asking contacts on %s: %w", subject, err)
	}
	if err := json.Unmarshal(msg.Data, resp); err != nil {
		return fmt.Errorf("decoding %s answer: %w", subject, err)
	}
	return nil
}

// Page asks for one page of an audience.
func (c *Client) Page(ctx context.Context, req events.AudiencePageRequest) (events.AudiencePage, error) {
	var page events.AudiencePage
	if err := c.ask(ctx, events.SubjectAudiencePage, req, &page); err != nil {
		return events.AudiencePage{}, err
	}
	if page.Error != "" {
		return events.AudiencePage{}, apperr.Invalid("audience", "contacts refused the audience: %s", page.Error)
	}
	return page, nil
}

// Reachable counts the members of an audience reachable on ch by paging
// through it: exact, and what the fan-out will send to.
func (c *Client) Reachable(ctx context.Context, a campaign.Audience, ch events.Channel) (int, error) {
	n, after := 0, ""
	for {
		page, err := c.Page(ctx, Request(a, ch, after, 1000))
		if err != nil {
			return 0, err
		}
		n += len(page.Members)
		if page.Next == "" || len(page.Members) == 0 {
			return n, nil
		}
		after = page.Next
	}
}

// Any reports whether an audience has anyone reachable on ch.
func (c *Client) Any(ctx context.Context, a campaign.Audience, ch events.Channel) (bool, error) {
	page, err := c.Page(ctx, Request(a, ch, "", 1))
	if err != nil {
		return false, err
	}
	return len(page.Members) > 0, nil
}

// Count asks for an audience's size per channel, opted-out and
// addressless members included. ErrNotAnswered while contacts does not
// answer the subject.
func (c *Client) Count(ctx context.Context, a campaign.Audience) (events.AudienceCount, error) {
	var out events.AudienceCount
	if err := c.ask(ctx, events.SubjectAudienceCount, Request(a, events.ChannelSMS, "", 0), &out); err != nil {
		return events.AudienceCount{}, err
	}
	if out.Error != "" {
		return events.AudienceCount{}, apperr.Invalid("audience", "contacts refused the audience: %s", out.Error)
	}
	return out, nil
}

// Member asks for one member. ErrNotAnswered while contacts does not
// answer the subject; a not-found error when there is no such contact.
func (c *Client) Member(ctx context.Context, contactID string) (events.Member, error) {
	var out events.MemberReply
	if err := c.ask(ctx, events.SubjectMemberGet, events.MemberRequest{ContactID: contactID}, &out); err != nil {
		return events.Member{}, err
	}
	switch {
	case out.NotFound:
		return events.Member{}, apperr.NotFound("no contact %s", contactID)
	case out.Error != "":
		return events.Member{}, fmt.Errorf("contacts: %s", out.Error)
	case out.Member == nil:
		return events.Member{}, apperr.NotFound("no contact %s", contactID)
	}
	return *out.Member, nil
}
