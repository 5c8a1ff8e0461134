package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/events"
)

// MessageStatus is one step message's reported status, ranked.
type MessageStatus struct {
	events.StatusChange
	Step, Rank int
}

// RecordStatuses keeps step messages' latest statuses for results, in one
// statement; a report that ranks lower than what is stored (late,
// repeated) changes nothing, except that a queued text deferred again
// takes its new reason (a member's pause ended, their window holds it).
// When a message appears twice, its higher-ranked report is kept.
func (s *Store) RecordStatuses(ctx context.Context, list []MessageStatus) error {
	best := make(map[string]int, len(list))
	for i, m := range list {
		if j, ok := best[m.MessageID]; !ok || list[j].Rank < m.Rank {
			best[m.MessageID] = i
		}
	}
	// Rows are written in message id order, so two batches sharing
	// messages lock them in the same order and never deadlock.
	kept := make([]int, 0, len(best))
	for _, i := range best {
		kept = append(kept, i)
	}
	sort.Slice(kept, func(a, b int) bool { return list[kept[a]].MessageID < list[kept[b]].MessageID })
	n := len(kept)
	ids, campaigns, contacts, statuses, channels, codes, reasons := make([]string, 0, n), make([]string, 0, n),
		make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	ranks, steps := make([]int32, 0, n), make([]int32, 0, n)
	for _, i := range kept {
		m := list[i]
		ids, campaigns, contacts, statuses = append(ids, m.MessageID), append(campaigns, m.CampaignID), append(contacts, m.ContactID), append(statuses, m.Status)
		channels, codes, reasons = append(channels, string(m.Channel)), append(codes, m.ErrorCode), append(reasons, m.Reason)
		ranks, steps = append(ranks, int32(m.Rank)), append(steps, int32(m.Step))
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO campaign_messages (message_id, campaign_id, contact_id, status, status_rank, step, channel, error_code, reason, updated_at,
			sent_at, delivered_at)
		SELECT u.*, $10::timestamptz,
			CASE WHEN u.status = ANY($11::text[]) THEN $10::timestamptz END,
			CASE WHEN u.status = $12 THEN $10::timestamptz END
		FROM unnest($1::text[], $2::text[]::uuid[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::text[], $9::text[])
			AS u (message_id, campaign_id, contact_id, status, status_rank, step, channel, error_code, reason)
		ON CONFLICT (message_id) DO UPDATE SET status = excluded.status, status_rank = excluded.status_rank,
			error_code = excluded.error_code, reason = excluded.reason, updated_at = excluded.updated_at,
			sent_at = COALESCE(campaign_messages.sent_at, excluded.sent_at),
			delivered_at = COALESCE(campaign_messages.delivered_at, excluded.delivered_at)
		WHERE campaign_messages.status_rank < excluded.status_rank
			OR (campaign_messages.status = 'queued' AND excluded.status = 'queued' AND excluded.reason <> '')`,
		ids, campaigns, contacts, statuses, ranks, steps, channels, codes, reasons, s.now(), sentStatuses(), events.StatusDelivered)
	if err != nil {
		return fmt.Errorf("recording %d message statuses: %w", n, err)
	}
	return nil
}

// sentStatuses are the statuses of a message that reached the provider:
// the first of them seen sets its sent_at.
func sentStatuses() []string {
	return []string{events.StatusAccepted, events.StatusSent, events.StatusDelivered, events.StatusUndelivered}
}

// RecordReply keeps a member's reply to a campaign, once per event.
func (s *Store) RecordReply(ctx context.Context, campaignID string, ev events.InboundReceived) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO campaign_replies (event_id, campaign_id, contact_id, body, keyword, received_at)
		VALUES ($1, $2::uuid, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING`,
		ev.ID, campaignID, ev.ContactID, ev.Body, ev.Keyword, s.now())
	if err != nil {
		return fmt.Errorf("recording reply: %w", err)
	}
	return nil
}

// Counts are one step's messages by what became of them.
type Counts struct {
	// Published is how many send requests the step's fan-out published.
	Published int `json:"published"`
	// Pending have no status from delivery yet; Queued are recorded by
	// delivery but not yet with the provider; Sent reached the provider
	// (accepted, sent, delivered or undelivered).
	Pending   int `json:"pending"`
	Queued    int `json:"queued"`
	Sent      int `json:"sent"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	// Deferred are held by delivery (quiet hours, frequency cap): delivery
	// reports them as queued with a reason.
	Deferred int `json:"deferred"`
	// DeferredByReason splits Deferred by what holds each text now
	// (events.Defer*: member_window, pause, fewer_texts, state_rule,
	// quiet_hours, cap); DeferredLastUntil is when the last of them is due.
	DeferredByReason  map[string]int `json:"deferred_by_reason"`
	DeferredLastUntil *time.Time     `json:"deferred_last_until,omitempty"`
	Suppressed        int            `json:"suppressed"`
	Expired           int            `json:"expired"`
	Cancelled         int            `json:"cancelled"`
	Unknown           int            `json:"unknown"`
	ByStatus          map[string]int `json:"by_status"`
	// Failures are failed and undelivered messages by error code and
	// reason ("30003 unreachable handset").
	Failures map[string]int `json:"failures"`
}

func (c *Counts) add(status, code, reason string, n int) {
	c.ByStatus[status] += n
	switch status {
	case events.StatusQueued:
		c.Queued += n
		if reason != "" {
			c.Deferred += n
			why, until, ok := events.ParseDeferred(reason)
			if !ok {
				why = "other"
			} else if c.DeferredLastUntil == nil || until.After(*c.DeferredLastUntil) {
				c.DeferredLastUntil = &until
			}
			c.DeferredByReason[why] += n
		}
	case events.StatusSending:
		c.Queued += n
	case events.StatusAccepted, events.StatusSent:
		c.Sent += n
	case events.StatusDelivered:
		c.Sent += n
		c.Delivered += n
	case events.StatusUndelivered, events.StatusFailed:
		if status == events.StatusUndelivered {
			c.Sent += n
		}
		c.Failed += n
		key := strings.TrimSpace(strings.TrimSpace(code) + " " + strings.TrimSpace(reason))
		if key == "" {
			key = status
		}
		c.Failures[key] += n
	case events.StatusSuppressed:
		c.Suppressed += n
	case events.StatusExpired:
		c.Expired += n
	case events.StatusCancelled:
		c.Cancelled += n
	case events.StatusUnknown:
		c.Unknown += n
	}
}

func newCounts() Counts {
	return Counts{ByStatus: map[string]int{}, Failures: map[string]int{}, DeferredByReason: map[string]int{}}
}

// StepCounts are a later step's numbers (a reminder, a notice).
type StepCounts struct {
	Step int    `json:"step"`
	Kind string `json:"kind"`
	Counts
}

// Results are a campaign's live numbers. The top level is the first
// message (the alert, invitation or ask); later steps are listed apart.
type Results struct {
	CampaignID string `json:"campaign_id"`
	Status     string `json:"status"`
	Kind       string `json:"kind"`
	// Targeted counts members the first message was published to, on
	// every channel (a member reached by text and email counts twice).
	Targeted        int            `json:"targeted"`
	TargetedChannel map[string]int `json:"targeted_by_channel"`
	Counts
	Replies int `json:"replies"`
	// OptOuts counts opt-out replies (STOP and its family) to this
	// campaign.
	OptOuts    int          `json:"opt_outs"`
	RSVPs      *RSVPCount   `json:"rsvps,omitempty"`
	Signatures *int         `json:"signatures,omitempty"`
	Goal       int          `json:"goal,omitempty"`
	Calls      *int         `json:"calls,omitempty"`
	InboxOpen  int          `json:"inbox_open"`
	Steps      []StepCounts `json:"steps"`

	// PossibleOptOuts counts replies that might be opt-outs (delivery
	// holds each for an organizer to decide, docs/delivery.md "Possible
	// opt-outs"); they also count as replies and reach the inbox.
	PossibleOptOuts int `json:"possible_opt_outs"`

	// Timeline is sends, deliveries and replies over time, every step
	// included; absent until something was sent or answered.
	Timeline *Timeline `json:"timeline,omitempty"`
}

// Timeline is a campaign's activity in equal buckets of time, oldest
// first, with empty buckets kept so the points can be drawn as they are.
type Timeline struct {
	BucketSeconds int             `json:"bucket_seconds"`
	Buckets       []TimelineCount `json:"buckets"`
}

// TimelineCount is what happened in one bucket, which starts at At.
type TimelineCount struct {
	At        time.Time `json:"at"`
	Sent      int       `json:"sent"`
	Delivered int       `json:"delivered"`
	Replies   int       `json:"replies"`
}

// timelineBuckets are the bucket sizes a timeline may use, smallest
// first; the first that cuts the campaign's span into at most
// maxTimelineBuckets is used.
func timelineBuckets() []time.Duration {
	return []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
		3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}
}

// maxTimelineBuckets keeps a chart readable on a phone.
const maxTimelineBuckets = 24

// timeline reads a campaign's activity by the minute and gathers it into
// buckets sized to its span. The minute counts are bounded by the span in
// minutes, so even a week-long campaign reads a few thousand rows.
func (s *Store) timeline(ctx context.Context, id string, launched *time.Time) (*Timeline, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT 's', date_trunc('minute', sent_at), count(*) FROM campaign_messages
			WHERE campaign_id = $1::uuid AND sent_at IS NOT NULL GROUP BY 2
		UNION ALL
		SELECT 'd', date_trunc('minute', delivered_at), count(*) FROM campaign_messages
			WHERE campaign_id = $1::uuid AND delivered_at IS NOT NULL GROUP BY 2
		UNION ALL
		SELECT 'r', date_trunc('minute', received_at), count(*) FROM campaign_replies
			WHERE campaign_id = $1::uuid GROUP BY 2`, id)
	if err != nil {
		return nil, fmt.Errorf("reading the timeline: %w", err)
	}
	type point struct {
		what string
		at   time.Time
		n    int
	}
	points, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (point, error) {
		var p point
		return p, r.Scan(&p.what, &p.at, &p.n)
	})
	if err != nil {
		return nil, fmt.Errorf("reading the timeline: %w", err)
	}
	if len(points) == 0 {
		return nil, nil
	}
	first, last := points[0].at, points[0].at
	for _, p := range points {
		if p.at.Before(first) {
			first = p.at
		}
		if p.at.After(last) {
			last = p.at
		}
	}
	if launched != nil && launched.Before(first) {
		first = *launched
	}
	bucket := timelineBuckets()[len(timelineBuckets())-1]
	for _, b := range timelineBuckets() {
		if last.Sub(first.Truncate(b))/b < maxTimelineBuckets {
			bucket = b
			break
		}
	}
	start := first.Truncate(bucket).UTC()
	n := int(last.Sub(start)/bucket) + 1
	t := &Timeline{BucketSeconds: int(bucket / time.Second), Buckets: make([]TimelineCount, n)}
	for i := range t.Buckets {
		t.Buckets[i].At = start.Add(time.Duration(i) * bucket)
	}
	for _, p := range points {
		b := &t.Buckets[min(int(p.at.Sub(start)/bucket), n-1)]
		switch p.what {
		case "s":
			b.Sent += p.n
		case "d":
			b.Delivered += p.n
		default:
			b.Replies += p.n
		}
	}
	return t, nil
}

// RSVPCount is a meeting's answers so far.
type RSVPCount struct {
	Yes        int `json:"yes"`
	No         int `json:"no"`
	NoAnswer   int `json:"no_answer"`
	Recipients int `json:"recipients"`
}

// Results counts a campaign's messages by their latest status, its
// replies, answers and open inbox items.
func (s *Store) Results(ctx context.Context, id string) (Results, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Results{}, err
	}
	r := Results{CampaignID: c.ID, Status: string(c.Status), Kind: string(c.Kind), Targeted: c.Targeted,
		TargetedChannel: map[string]int{}, Counts: newCounts(), Steps: []StepCounts{}}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT step, status, error_code, reason, count(*) FROM campaign_messages
		WHERE campaign_id = $1::uuid GROUP BY 1, 2, 3, 4`, c.ID)
	batch.Queue(`SELECT s.step, s.kind, j.channel, j.published FROM campaign_steps s
		JOIN fanout_jobs j ON j.campaign_id = s.campaign_id AND j.step = s.step WHERE s.campaign_id = $1::uuid`, c.ID)
	batch.Queue(`SELECT count(*), count(*) FILTER (WHERE keyword = 'opt_out'),
		count(*) FILTER (WHERE keyword = 'possible_opt_out') FROM campaign_replies WHERE campaign_id = $1::uuid`, c.ID)
	batch.Queue(`SELECT count(*) FILTER (WHERE answer = 'yes'), count(*) FILTER (WHERE answer = 'no') FROM rsvps WHERE campaign_id = $1::uuid`, c.ID)
	batch.Queue(`SELECT count(*) FILTER (WHERE action = 'sign'), count(*) FILTER (WHERE action = 'call')
		FROM petition_actions WHERE campaign_id = $1::uuid`, c.ID)
	batch.Queue(`SELECT count(*) FROM inbox WHERE campaign_id = $1::uuid AND handled_at IS NULL`, c.ID)
	batch.Queue(`SELECT count(DISTINCT contact_id) FROM campaign_recipients WHERE campaign_id = $1::uuid`, c.ID)
	br := s.pool.SendBatch(ctx, batch)
	defer br.Close()

	steps := map[int]*StepCounts{}
	stepOf := func(n int, kind string) *StepCounts {
		if sc, ok := steps[n]; ok {
			if kind != "" {
				sc.Kind = kind
			}
			return sc
		}
		sc := &StepCounts{Step: n, Kind: kind, Counts: newCounts()}
		steps[n] = sc
		return sc
	}
	rows, _ := br.Query()
	var step, n int
	var status, code, reason string
	_, err = pgx.ForEachRow(rows, []any{&step, &status, &code, &reason, &n}, func() error {
		if step == 0 {
			r.Counts.add(status, code, reason, n)
		} else {
			stepOf(step, "").add(status, code, reason, n)
		}
		return nil
	})
	if err != nil {
		return Results{}, fmt.Errorf("counting messages: %w", err)
	}
	rows, _ = br.Query()
	var kind, channel string
	_, err = pgx.ForEachRow(rows, []any{&step, &kind, &channel, &n}, func() error {
		if step == 0 {
			r.Published += n
			r.TargetedChannel[channel] += n
		} else {
			stepOf(step, kind).Published += n
		}
		return nil
	})
	if err != nil {
		return Results{}, fmt.Errorf("counting published messages: %w", err)
	}
	if err := br.QueryRow().Scan(&r.Replies, &r.OptOuts, &r.PossibleOptOuts); err != nil {
		return Results{}, fmt.Errorf("counting replies: %w", err)
	}
	var yes, no, signed, called, recipients int
	if err := br.QueryRow().Scan(&yes, &no); err != nil {
		return Results{}, fmt.Errorf("counting rsvps: %w", err)
	}
	if err := br.QueryRow().Scan(&signed, &called); err != nil {
		return Results{}, fmt.Errorf("counting signatures: %w", err)
	}
	if err := br.QueryRow().Scan(&r.InboxOpen); err != nil {
		return Results{}, fmt.Errorf("counting inbox: %w", err)
	}
	if err := br.QueryRow().Scan(&recipients); err != nil {
		return Results{}, fmt.Errorf("counting recipients: %w", err)
	}
	switch {
	case c.Meeting != nil:
		r.RSVPs = &RSVPCount{Yes: yes, No: no, Recipients: recipients, NoAnswer: max(recipients-yes-no, 0)}
	case c.Petition != nil:
		if c.Petition.Ask.Signs() {
			r.Signatures = &signed
			r.Goal = c.Petition.Goal
		}
		if c.Petition.Ask.Calls() {
			r.Calls = &called
		}
	}
	r.Pending = max(r.Published-sum(r.ByStatus), 0)
	for _, sc := range steps {
		sc.Pending = max(sc.Published-sum(sc.ByStatus), 0)
		r.Steps = append(r.Steps, *sc)
	}
	sort.Slice(r.Steps, func(i, j int) bool { return r.Steps[i].Step < r.Steps[j].Step })
	br.Close()
	if r.Timeline, err = s.timeline(ctx, c.ID, c.LaunchedAt); err != nil {
		return Results{}, err
	}
	return r, nil
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}
