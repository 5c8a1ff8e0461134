package server

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/plain"
)

// Why did 12 of 13 go? Campaigns counts the messages delivery holds back
// (Deferred) but not why or until when; delivery's message log has both
// on each message (defer_reason, deferred_until). The results page reads
// the campaign's queued messages from the log and groups them by reason,
// with when the first and last of each will go.

// heldScan bounds how many queued messages one page view reads from the
// log (a page of 1000 at a time): enough for a local's whole list, and a
// bounded cost on a very large one, whose counts are then marked partial.
const (
	heldScan = 5000
	heldPage = 1000
)

// held explains the texts still waiting.
type held struct {
	Reasons []heldReason
	// Partial is set when more were queued than heldScan: the counts are
	// of the first heldScan.
	Partial bool
	// Unavailable is set when delivery's log could not be read.
	Unavailable bool
}

// heldReason is one reason texts wait, in words, with how many and when
// the first and last of them go.
type heldReason struct {
	Reason     string
	N          int
	Next, Last time.Time
	// NextZone is the time zone of the member whose text goes next, when
	// known: the page also says the time on their clock.
	NextZone *time.Location
}

// TheirTime is when the next text goes on its member's clock ("16:00"),
// or "" when their zone is unknown.
func (h heldReason) TheirTime() string {
	if h.NextZone == nil || h.Next.IsZero() {
		return ""
	}
	return h.Next.In(h.NextZone).Format("15:04")
}

// Ready reports whether these wait for nothing: queued with no reason,
// they go as soon as the sender gets to them.
func (h heldReason) Ready() bool { return h.Next.IsZero() }

// heldBack groups a campaign's queued messages by why they wait. A log
// that cannot be read leaves the explanation out, not the page.
func (s *Server) heldBack(ctx context.Context, campaignID string) held {
	var out held
	org := s.orgZone(ctx)
	byReason := map[string]*heldReason{}
	key := "c." + campaignID + ".s" // the campaign's own steps, not test sends
	after, seen := "", 0
	for seen < heldScan {
		q := url.Values{"campaign_id": {campaignID}, "status": {"queued"}, "limit": {strconv.Itoa(heldPage)}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Messages []struct {
				IdempotencyKey string     `json:"idempotency_key"`
				DeferReason    string     `json:"defer_reason"`
				DeferredUntil  *time.Time `json:"deferred_until"`
				TimeZone       string     `json:"time_zone"`
			} `json:"messages"`
			Next string `json:"next"`
		}
		if err := s.Services.Delivery.JSON(ctx, http.MethodGet, "/messages?"+q.Encode(), nil, &page); err != nil {
			s.Log.Warn("reading held messages", zap.String("campaign_id", campaignID), zap.Error(err))
			return held{Unavailable: true}
		}
		for _, m := range page.Messages {
			seen++
			if !strings.HasPrefix(m.IdempotencyKey, key) {
				continue
			}
			reason := ""
			if m.DeferReason != "" && m.DeferredUntil != nil {
				reason = plain.DeferReason(m.DeferReason)
			}
			h := byReason[reason]
			if h == nil {
				h = &heldReason{Reason: reason}
				byReason[reason] = h
			}
			h.N++
			if reason != "" {
				at := *m.DeferredUntil
				if h.Next.IsZero() || at.Before(h.Next) {
					h.Next, h.NextZone = at, nil
					// Their clock, when it reads otherwise than the
					// organization's.
					if loc, err := time.LoadLocation(m.TimeZone); err == nil && m.TimeZone != "" &&
						at.In(loc).Format("15:04") != at.In(org).Format("15:04") {
						h.NextZone = loc
					}
				}
				if at.After(h.Last) {
					h.Last = at
				}
			}
		}
		if page.Next == "" {
			return out.sorted(byReason)
		}
		after = page.Next
	}
	out.Partial = true
	return out.sorted(byReason)
}

// sorted lists the reasons most texts first, those that wait for nothing
// last.
func (h held) sorted(by map[string]*heldReason) held {
	for _, r := range by {
		h.Reasons = append(h.Reasons, *r)
	}
	sort.Slice(h.Reasons, func(i, j int) bool {
		a, b := h.Reasons[i], h.Reasons[j]
		if a.Ready() != b.Ready() {
			return b.Ready()
		}
		if a.N != b.N {
			return a.N > b.N
		}
		return a.Reason < b.Reason
	})
	return h
}
