package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/apperr"
)

// Candidates are the meetings, petitions and polls a member's reply may answer,
// newest first: campaigns whose first message went to the member since
// since, and meetings still to come whenever they were sent.
func (s *Store) Candidates(ctx context.Context, contactID string, since, now time.Time, limit int) ([]campaign.Campaign, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+columns+` FROM campaigns c
		JOIN (SELECT campaign_id, max(created_at) AS at FROM campaign_recipients WHERE contact_id = $1 GROUP BY campaign_id) r
		  ON r.campaign_id = c.id
		WHERE c.kind IN ('meeting', 'petition', 'poll') AND c.status IN ('launching', 'launched')
		  AND (r.at >= $2 OR (c.kind = 'meeting' AND (c.spec->'meeting'->>'starts_at')::timestamptz > $3::timestamptz - interval '1 day'))
		ORDER BY r.at DESC LIMIT $4`, contactID, since, now, limit)
	if err != nil {
		return nil, fmt.Errorf("finding member's campaigns: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (campaign.Campaign, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("reading member's campaigns: %w", err)
	}
	return list, nil
}

// Sources of an answer.
const (
	SourceReply = "reply"
	SourceLink  = "link"
)

// Answer is a member's RSVP, signature or reported call.
type Answer struct {
	CampaignID string
	ContactID  string
	// Answer is yes or no for an RSVP, sign or call for a petition.
	Answer    string
	Channel   string
	Source    string
	EventID   string
	At        time.Time
	FirstName string
	LastName  string
}

// RecordRSVP keeps a member's latest answer to a meeting. It reports
// whether the stored answer is this event's: true for a new or changed
// answer (and for this same event redelivered, so an interrupted
// auto-reply is sent again under its own key), false for a repeat of what
// the member already said or an answer older than the one stored.
func (s *Store) RecordRSVP(ctx context.Context, a Answer) (bool, error) {
	var stored string
	err := s.pool.QueryRow(ctx, `WITH up AS (
			INSERT INTO rsvps (campaign_id, contact_id, answer, channel, source, event_id, answered_at)
			VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (campaign_id, contact_id) DO UPDATE SET answer = excluded.answer, channel = excluded.channel,
				source = excluded.source, event_id = excluded.event_id, answered_at = excluded.answered_at
			WHERE rsvps.answer <> excluded.answer AND rsvps.answered_at <= excluded.answered_at
			RETURNING event_id)
		SELECT event_id FROM up
		UNION ALL
		SELECT event_id FROM rsvps WHERE campaign_id = $1::uuid AND contact_id = $2 AND NOT EXISTS (SELECT 1 FROM up)`,
		a.CampaignID, a.ContactID, a.Answer, a.Channel, a.Source, a.EventID, a.At).Scan(&stored)
	if err != nil {
		return false, fmt.Errorf("recording rsvp: %w", err)
	}
	return stored == a.EventID, nil
}

// RecordAction keeps a signature or reported call, once per member. It
// reports whether the stored one is this event's, as RecordRSVP does.
func (s *Store) RecordAction(ctx context.Context, a Answer) (bool, error) {
	var stored string
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO petition_actions (campaign_id, action, contact_id, channel, source, event_id, first_name, last_name, acted_at)
			VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT DO NOTHING RETURNING event_id)
		SELECT event_id FROM ins
		UNION ALL
		SELECT event_id FROM petition_actions WHERE campaign_id = $1::uuid AND action = $2 AND contact_id = $3
		  AND NOT EXISTS (SELECT 1 FROM ins)`,
		a.CampaignID, a.Answer, a.ContactID, a.Channel, a.Source, a.EventID, a.FirstName, a.LastName, a.At).Scan(&stored)
	if err != nil {
		return false, fmt.Errorf("recording %s: %w", a.Answer, err)
	}
	return stored == a.EventID, nil
}

// RSVP is one member on a meeting's list.
type RSVP struct {
	ContactID  string     `json:"contact_id"`
	FirstName  string     `json:"first_name"`
	LastName   string     `json:"last_name"`
	Answer     string     `json:"answer"` // yes, no, or "" for no answer yet
	Channel    string     `json:"channel,omitempty"`
	Source     string     `json:"source,omitempty"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
}

// RSVPs lists a meeting's recipients with their answers in contact
// order after after; answer filters (yes, no, none) when not empty.
func (s *Store) RSVPs(ctx context.Context, campaignID, answer, after string, limit int) ([]RSVP, error) {
	cond := ""
	switch answer {
	case "yes", "no":
		cond = " AND v.answer = '" + answer + "'"
	case "none":
		cond = " AND v.answer IS NULL"
	case "":
	default:
		return nil, apperr.Invalid("answer", "%q: use yes, no or none", answer)
	}
	rows, err := s.pool.Query(ctx, `SELECT r.contact_id, r.first_name, r.last_name, coalesce(v.answer, ''), coalesce(v.channel, ''),
			coalesce(v.source, ''), v.answered_at
		FROM (SELECT DISTINCT ON (contact_id) contact_id, first_name, last_name FROM campaign_recipients
		      WHERE campaign_id::text = $1 AND contact_id > $2 ORDER BY contact_id, channel DESC) r
		LEFT JOIN rsvps v ON v.campaign_id::text = $1 AND v.contact_id = r.contact_id
		WHERE true`+cond+` ORDER BY r.contact_id LIMIT $3`, campaignID, after, clamp(limit))
	if err != nil {
		return nil, fmt.Errorf("listing rsvps: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RSVP, error) {
		var x RSVP
		return x, r.Scan(&x.ContactID, &x.FirstName, &x.LastName, &x.Answer, &x.Channel, &x.Source, &x.AnsweredAt)
	})
	if err != nil {
		return nil, fmt.Errorf("reading rsvps: %w", err)
	}
	return list, nil
}

// Action is one signature or reported call.
type Action struct {
	ContactID string    `json:"contact_id"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Channel   string    `json:"channel"`
	Source    string    `json:"source"`
	At        time.Time `json:"at"`
}

// Actions lists a petition's signatures (action sign) or calls (call) in
// the order they came, after the position after (an RFC 3339 time).
func (s *Store) Actions(ctx context.Context, campaignID, action string, after time.Time, limit int) ([]Action, error) {
	rows, err := s.pool.Query(ctx, `SELECT contact_id, first_name, last_name, channel, source, acted_at FROM petition_actions
		WHERE campaign_id::text = $1 AND action = $2 AND acted_at > $3 ORDER BY acted_at, contact_id LIMIT $4`,
		campaignID, action, after, clamp(limit))
	if err != nil {
		return nil, fmt.Errorf("listing %s actions: %w", action, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Action, error) {
		var a Action
		return a, r.Scan(&a.ContactID, &a.FirstName, &a.LastName, &a.Channel, &a.Source, &a.At)
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s actions: %w", action, err)
	}
	return list, nil
}

// CountActions counts a petition's signatures or calls.
func (s *Store) CountActions(ctx context.Context, campaignID, action string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM petition_actions WHERE campaign_id::text = $1 AND action = $2`,
		campaignID, action).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting %s actions: %w", action, err)
	}
	return n, nil
}

// EachAction streams every signature or call in order, for a CSV export
// of any size.
func (s *Store) EachAction(ctx context.Context, campaignID, action string, fn func(Action) error) error {
	rows, err := s.pool.Query(ctx, `SELECT contact_id, first_name, last_name, channel, source, acted_at FROM petition_actions
		WHERE campaign_id::text = $1 AND action = $2 ORDER BY acted_at, contact_id`, campaignID, action)
	if err != nil {
		return fmt.Errorf("exporting %s actions: %w", action, err)
	}
	var a Action
	_, err = pgx.ForEachRow(rows, []any{&a.ContactID, &a.FirstName, &a.LastName, &a.Channel, &a.Source, &a.At}, func() error { return fn(a) })
	if err != nil {
		return fmt.Errorf("exporting %s actions: %w", action, err)
	}
	return nil
}

func clamp(limit int) int {
	if limit <= 0 || limit > 1000 {
		return 1000
	}
	return limit
}

// InboxItem is a member's reply a person should read.
type InboxItem struct {
	ID         string       `json:"id"`
	EventID    string       `json:"event_id"`
	CampaignID *string      `json:"campaign_id,omitempty"`
	ContactID  string       `json:"contact_id,omitempty"`
	FirstName  string       `json:"first_name,omitempty"`
	LastName   string       `json:"last_name,omitempty"`
	Channel    string       `json:"channel"`
	From       string       `json:"from"`
	To         string       `json:"to,omitempty"`
	Body       string       `json:"body"`
	Note       string       `json:"note,omitempty"`
	ReceivedAt time.Time    `json:"received_at"`
	HandledAt  *time.Time   `json:"handled_at,omitempty"`
	Replies    []InboxReply `json:"replies"`
	// Conversation names the member's conversation the reply belongs to:
	// c:<contact id> for a known member, a:<address> otherwise.
	Conversation string `json:"conversation"`
}

// InboxReply is an organizer's answer from the inbox.
type InboxReply struct {
	ID             string    `json:"id"`
	Body           string    `json:"body"`
	IdempotencyKey string    `json:"idempotency_key"`
	CreatedAt      time.Time `json:"created_at"`
}

// AddInbox keeps a reply for a person, once per event.
func (s *Store) AddInbox(ctx context.Context, it InboxItem) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO inbox (event_id, campaign_id, contact_id, first_name, last_name, channel, from_addr, to_addr, body, note, received_at)
		VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (event_id) DO NOTHING`,
		it.EventID, it.CampaignID, it.ContactID, it.FirstName, it.LastName, it.Channel, it.From, it.To, it.Body, it.Note, it.ReceivedAt)
	if err != nil {
		return fmt.Errorf("adding to inbox: %w", err)
	}
	return nil
}

// InboxQuery filters the inbox.
type InboxQuery struct {
	// Status is open (the default), handled or all.
	Status     string
	CampaignID string
	// Conversation keeps one member's conversation (InboxItem.Conversation).
	Conversation string
	Before       time.Time
	Limit        int
}

// conversationOf is the SQL for InboxItem.Conversation.
const conversationOf = `(CASE WHEN i.contact_id <> '' THEN 'c:' || i.contact_id ELSE 'a:' || i.from_addr END)`

const inboxColumns = `i.id::text, i.event_id, i.campaign_id::text, i.contact_id, i.first_name, i.last_name, i.channel,
	i.from_addr, i.to_addr, i.body, i.note, i.received_at, i.handled_at, ` + conversationOf

func scanInbox(r pgx.Row, more ...any) (InboxItem, error) {
	var it InboxItem
	err := r.Scan(append([]any{&it.ID, &it.EventID, &it.CampaignID, &it.ContactID, &it.FirstName, &it.LastName, &it.Channel,
		&it.From, &it.To, &it.Body, &it.Note, &it.ReceivedAt, &it.HandledAt, &it.Conversation}, more...)...)
	it.Replies = []InboxReply{}
	return it, err
}

// Inbox lists replies, newest first, with the answers organizers sent.
func (s *Store) Inbox(ctx context.Context, q InboxQuery) ([]InboxItem, error) {
	where := "i.handled_at IS NULL"
	switch q.Status {
	case "", "open":
	case "handled":
		where = "i.handled_at IS NOT NULL"
	case "all":
		where = "true"
	default:
		return nil, apperr.Invalid("status", "%q: use open, handled or all", q.Status)
	}
	args := []any{clamp(q.Limit)}
	if q.CampaignID != "" {
		args = append(args, q.CampaignID)
		where += fmt.Sprintf(" AND i.campaign_id::text = $%d", len(args))
	}
	if q.Conversation != "" {
		args = append(args, q.Conversation)
		where += fmt.Sprintf(" AND "+conversationOf+" = $%d", len(args))
	}
	if !q.Before.IsZero() {
		args = append(args, q.Before)
		where += fmt.Sprintf(" AND i.received_at < $%d", len(args))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+inboxColumns+` FROM inbox i WHERE `+where+` ORDER BY i.received_at DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading inbox: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxItem, error) { return scanInbox(r) })
	if err != nil {
		return nil, fmt.Errorf("reading inbox: %w", err)
	}
	return s.withReplies(ctx, items)
}

// withReplies adds the organizers' answers to each item.
func (s *Store) withReplies(ctx context.Context, items []InboxItem) ([]InboxItem, error) {
	if len(items) == 0 {
		return []InboxItem{}, nil
	}
	ids := make([]string, len(items))
	at := map[string]int{}
	for i, it := range items {
		ids[i], at[it.ID] = it.ID, i
	}
	rows, err := s.pool.Query(ctx, `SELECT inbox_id::text, id::text, body, idempotency_key, created_at FROM inbox_replies
		WHERE inbox_id = ANY($1::uuid[]) ORDER BY created_at`, ids)
	if err != nil {
		return nil, fmt.Errorf("reading inbox replies: %w", err)
	}
	var inboxID string
	var rep InboxReply
	_, err = pgx.ForEachRow(rows, []any{&inboxID, &rep.ID, &rep.Body, &rep.IdempotencyKey, &rep.CreatedAt}, func() error {
		items[at[inboxID]].Replies = append(items[at[inboxID]].Replies, rep)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading inbox replies: %w", err)
	}
	return items, nil
}

// InboxItem reads one inbox item.
func (s *Store) InboxItem(ctx context.Context, id string) (InboxItem, error) {
	it, err := scanInbox(s.pool.QueryRow(ctx, `SELECT `+inboxColumns+` FROM inbox i WHERE i.id::text = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return InboxItem{}, apperr.NotFound("no inbox item %s", id)
	}
	if err != nil {
		return InboxItem{}, fmt.Errorf("reading inbox item: %w", err)
	}
	return it, nil
}

// HandleInbox marks an item handled; handling it again changes nothing.
func (s *Store) HandleInbox(ctx context.Context, id string, now time.Time) (InboxItem, error) {
	it, err := scanInbox(s.pool.QueryRow(ctx, `UPDATE inbox i SET handled_at = coalesce(i.handled_at, $2)
		WHERE i.id::text = $1 RETURNING `+inboxColumns, id, now))
	if errors.Is(err, pgx.ErrNoRows) {
		return InboxItem{}, apperr.NotFound("no inbox item %s", id)
	}
	if err != nil {
		return InboxItem{}, fmt.Errorf("handling inbox item: %w", err)
	}
	return it, nil
}

// AddInboxReply records an organizer's answer under its idempotency key;
// a retried request finds the first one (created false) and sends nothing
// new.
func (s *Store) AddInboxReply(ctx context.Context, inboxID, body, key string) (InboxReply, bool, error) {
	var r InboxReply
	err := s.pool.QueryRow(ctx, `INSERT INTO inbox_replies (inbox_id, body, idempotency_key, created_at) VALUES ($1::uuid, $2, $3, $4)
		ON CONFLICT (idempotency_key) DO NOTHING RETURNING id::text, body, idempotency_key, created_at`, inboxID, body, key, s.now()).
		Scan(&r.ID, &r.Body, &r.IdempotencyKey, &r.CreatedAt)
	if err == nil {
		return r, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return InboxReply{}, false, fmt.Errorf("recording inbox reply: %w", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT id::text, body, idempotency_key, created_at FROM inbox_replies WHERE idempotency_key = $1`, key).
		Scan(&r.ID, &r.Body, &r.IdempotencyKey, &r.CreatedAt)
	if err != nil {
		return InboxReply{}, false, fmt.Errorf("reading inbox reply: %w", err)
	}
	return r, false, nil
}

// Conversation is one member's conversation in the inbox: their latest
// reply (with its campaign) and how many of their replies are there and
// still open.
type Conversation struct {
	Latest InboxItem `json:"latest"`
	// Count is the member's replies the query kept; Open those not handled.
	Count int `json:"count"`
	Open  int `json:"open"`
}

// Conversations lists the inbox one row per member, the conversation with
// the newest reply first. Status open keeps conversations with a reply
// not handled, handled those with none, all both; CampaignID keeps the
// replies to one campaign (the row shows the latest of those).
func (s *Store) Conversations(ctx context.Context, q InboxQuery) ([]Conversation, error) {
	keep := "t.n_open > 0"
	where := "true"
	switch q.Status {
	case "", "open":
		// Only conversations with an open reply, found by the index of
		// open replies, are read whole.
		where = conversationOf + ` IN (SELECT ` + conversationOf + ` FROM inbox i WHERE i.handled_at IS NULL)`
	case "handled":
		keep = "t.n_open = 0"
	case "all":
		keep = "true"
	default:
		return nil, apperr.Invalid("status", "%q: use open, handled or all", q.Status)
	}
	args := []any{clamp(q.Limit)}
	if q.CampaignID != "" {
		args = append(args, q.CampaignID)
		where += fmt.Sprintf(" AND i.campaign_id::text = $%d", len(args))
	}
	// The window counts run before DISTINCT ON keeps each conversation's
	// newest reply.
	rows, err := s.pool.Query(ctx, `SELECT t.* FROM (
		SELECT DISTINCT ON (`+conversationOf+`) `+inboxColumns+`,
			count(*) OVER w AS n, count(*) FILTER (WHERE i.handled_at IS NULL) OVER w AS n_open
		FROM inbox i WHERE `+where+`
		WINDOW w AS (PARTITION BY `+conversationOf+`)
		ORDER BY `+conversationOf+`, i.received_at DESC) t
		WHERE `+keep+` ORDER BY t.received_at DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("reading conversations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Conversation, error) {
		var c Conversation
		var err error
		c.Latest, err = scanInbox(r, &c.Count, &c.Open)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading conversations: %w", err)
	}
	if out == nil {
		out = []Conversation{}
	}
	return out, nil
}

// HandleConversations marks every open reply in the named conversations
// handled, and says how many replies that was and the campaigns they
// answer.
func (s *Store) HandleConversations(ctx context.Context, conversations []string, now time.Time) (int, []string, error) {
	return s.handleWhere(ctx, conversationOf+` = ANY($1)`, now, conversations)
}

// HandleAnswered marks handled the open replies in an item's conversation
// up to that item: answering the newest reply the organizer saw answers
// those before it, not one that arrived while they wrote.
func (s *Store) HandleAnswered(ctx context.Context, it InboxItem, now time.Time) (int, []string, error) {
	return s.handleWhere(ctx, conversationOf+` = $1 AND i.received_at <= $3`, now, it.Conversation, it.ReceivedAt)
}

func (s *Store) handleWhere(ctx context.Context, where string, now time.Time, args ...any) (int, []string, error) {
	// $2 is the time; the caller's arguments are $1 and $3.
	all := []any{args[0], now}
	all = append(all, args[1:]...)
	rows, err := s.pool.Query(ctx, `UPDATE inbox i SET handled_at = $2 WHERE i.handled_at IS NULL AND `+where+`
		RETURNING coalesce(i.campaign_id::text, '')`, all...)
	if err != nil {
		return 0, nil, fmt.Errorf("handling conversations: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, nil, fmt.Errorf("handling conversations: %w", err)
	}
	var campaigns []string
	seen := map[string]bool{}
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			campaigns = append(campaigns, id)
		}
	}
	return len(ids), campaigns, nil
}
