// Package audience answers campaigns' questions about members over NATS
// request/reply: pages of an audience, one member, an audience's size.
package audience

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Responder serves audience pages. It subscribes in a queue group so any
// number of contacts replicas share the requests.
type Responder struct {
	store *store.Store
	log   *zap.Logger
}

// NewResponder builds a responder over the store.
func NewResponder(s *store.Store, log *zap.Logger) *Responder {
	return &Responder{store: s, log: log}
}

// Subscribe starts answering on the audience subject.
func (r *Responder) Subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(events.SubjectAudiencePage, "contacts", r.handle)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", events.SubjectAudiencePage, err)
	}
	return sub, nil
}

// Query turns a request into the filter it asks for: the tag (the form
// campaigns has always sent) and the filter, both holding when both are
// given. A request with neither is refused rather than read as "everyone":
// sending to the whole list must be asked for, as {"all": []}.
func Query(req events.AudiencePageRequest) (filter.Node, error) {
	if !req.Channel.Valid() {
		return filter.Node{}, fmt.Errorf("an audience request needs a channel (sms or email), got %q", req.Channel)
	}
	var parts []filter.Node
	if req.Tag != "" {
		raw, err := json.Marshal(map[string]string{"tag": req.Tag})
		if err != nil {
			return filter.Node{}, fmt.Errorf("encoding tag: %w", err)
		}
		n, err := filter.Parse(raw)
		if err != nil {
			return filter.Node{}, err
		}
		parts = append(parts, n)
	}
	if len(req.Filter) > 0 && string(req.Filter) != "null" {
		n, err := filter.Parse(req.Filter)
		if err != nil {
			return filter.Node{}, err
		}
		parts = append(parts, n)
	}
	if len(parts) == 0 {
		return filter.Node{}, fmt.Errorf("an audience request needs a tag or a filter")
	}
	return filter.And(parts...), nil
}

func (r *Responder) handle(msg *nats.Msg) {
	var req events.AudiencePageRequest
	var resp events.AudiencePage
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		resp.Error = "malformed audience request: " + err.Error()
	} else if n, err := Query(req); err != nil {
		resp.Error = err.Error()
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		members, next, err := r.store.AudiencePage(ctx, n, req.Channel, req.After, req.Limit)
		cancel()
		if err != nil {
			r.log.Error("audience page failed", zap.String("tag", req.Tag), zap.Error(err))
			resp.Error = "audience query failed"
		}
		resp.Members, resp.Next = members, next
	}
	if resp.Members == nil {
		resp.Members = []events.Member{}
	}
	r.respond(msg, resp)
}

// SubscribeQueries starts answering campaigns' other questions, in the
// same queue group: one member for a preview, and an audience's size per
// channel before launch.
func (r *Responder) SubscribeQueries(nc *nats.Conn) ([]*nats.Subscription, error) {
	member, err := nc.QueueSubscribe(events.SubjectMemberGet, "contacts", r.member)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", events.SubjectMemberGet, err)
	}
	count, err := nc.QueueSubscribe(events.SubjectAudienceCount, "contacts", r.count)
	if err != nil {
		_ = member.Unsubscribe()
		return nil, fmt.Errorf("subscribing to %s: %w", events.SubjectAudienceCount, err)
	}
	return []*nats.Subscription{member, count}, nil
}

func (r *Responder) member(msg *nats.Msg) {
	var req events.MemberRequest
	var resp events.MemberReply
	if err := json.Unmarshal(msg.Data, &req); err != nil || req.ContactID == "" {
		resp.Error = "a member request needs a contact_id"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := r.store.Get(ctx, req.ContactID)
		cancel()
		switch {
		case apperr.KindOf(err) == apperr.KindNotFound:
			resp.NotFound = true
		case err != nil:
			r.log.Error("member lookup failed", zap.String("contact_id", req.ContactID), zap.Error(err))
			resp.Error = "member lookup failed"
		default:
			resp.Member = &events.Member{
				ContactID: c.ID, FirstName: c.FirstName, LastName: c.LastName, Phone: string(c.Phone), Email: string(c.Email),
				TimeZone: c.TimeZone, Language: c.Language, Fields: c.Attributes, OrganizerFirstName: c.AssigneeFirstName,
			}
		}
	}
	r.respond(msg, resp)
}

func (r *Responder) count(msg *nats.Msg) {
	var req events.AudiencePageRequest
	var resp events.AudienceCount
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		resp.Error = "malformed audience request: " + err.Error()
	} else {
		// The channel only matters for paging; a count covers both.
		req.Channel = events.ChannelSMS
		if n, err := Query(req); err != nil {
			resp.Error = err.Error()
		} else {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := r.store.Count(ctx, n)
			cancel()
			if err != nil {
				r.log.Error("audience count failed", zap.String("tag", req.Tag), zap.Error(err))
				resp.Error = "audience count failed"
			} else {
				resp = c
			}
		}
	}
	r.respond(msg, resp)
}

func (r *Responder) respond(msg *nats.Msg, v any) {
	data, err := events.Encode(v)
	if err != nil {
		r.log.Error("encoding answer", zap.String("subject", msg.Subject), zap.Error(err))
		return
	}
	if err := msg.Respond(data); err != nil {
		r.log.Warn("answering request", zap.String("subject", msg.Subject), zap.Error(err))
	}
}
