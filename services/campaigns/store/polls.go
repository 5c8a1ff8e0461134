package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/shared/apperr"
)

// PollAnswer is a member's answer to a poll as a reply carried it.
type PollAnswer struct {
	CampaignID string
	ContactID  string
	// Answer is the label (or the number on a scale) as results count it.
	Answer  string
	Channel string
	EventID string
	Body    string
	At      time.Time
}

// RecordPollAnswer keeps a member's latest answer to a poll and, when it
// is new or changed, a line in the poll's history with the answer before.
// It reports whether the stored answer is this event's, as RecordRSVP
// does: true for a new or changed answer (and for this event
// redelivered, so an interrupted follow-up is sent again under its own
// key), false for a repeat of the member's answer or an older one.
func (s *Store) RecordPollAnswer(ctx context.Context, a PollAnswer) (bool, error) {
	var stored string
	err := s.pool.QueryRow(ctx, `WITH prev AS (
			SELECT answer FROM poll_answers WHERE campaign_id = $1::uuid AND contact_id = $2),
		up AS (
			INSERT INTO poll_answers (campaign_id, contact_id, answer, channel, event_id, body, answered_at)
			VALUES ($1::uuid, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (campaign_id, contact_id) DO UPDATE SET answer = excluded.answer, channel = excluded.channel,
				event_id = excluded.event_id, body = excluded.body, answered_at = excluded.answered_at,
				follow_up_event = '', follow_up_yes_at = NULL
			WHERE poll_answers.answer <> excluded.answer AND poll_answers.answered_at <= excluded.answered_at
			RETURNING event_id),
		hist AS (
			INSERT INTO poll_answer_history (campaign_id, contact_id, event_id, answer, previous, body, channel, answered_at)
			SELECT $1::uuid, $2, $5, $3, coalesce((SELECT answer FROM prev), ''), $6, $4, $7 WHERE EXISTS (SELECT 1 FROM up)
			ON CONFLICT DO NOTHING)
		SELECT event_id FROM up
		UNION ALL
		SELECT event_id FROM poll_answers WHERE campaign_id = $1::uuid AND contact_id = $2 AND NOT EXISTS (SELECT 1 FROM up)`,
		a.CampaignID, a.ContactID, a.Answer, a.Channel, a.EventID, a.Body, a.At).Scan(&stored)
	if err != nil {
		return false, fmt.Errorf("recording poll answer: %w", err)
	}
	return stored == a.EventID, nil
}

// MarkFollowUp notes that the follow-up to the answer of event eventID
// was sent: the member's next YES answers it.
func (s *Store) MarkFollowUp(ctx context.Context, campaignID, contactID, eventID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE poll_answers SET follow_up_event = $3
		WHERE campaign_id = $1::uuid AND contact_id = $2 AND event_id = $3`, campaignID, contactID, eventID)
	if err != nil {
		return fmt.Errorf("marking poll follow-up: %w", err)
	}
	return nil
}

// FollowUpWaiting reports whether the member was sent a follow-up to
// their answer and has not said YES to it yet.
func (s *Store) FollowUpWaiting(ctx context.Context, campaignID, contactID string) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM poll_answers WHERE campaign_id = $1::uuid AND contact_id = $2
		AND follow_up_event <> '' AND follow_up_yes_at IS NULL`, campaignID, contactID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("reading poll follow-up: %w", err)
	}
	return n > 0, nil
}

// RecordFollowUpYes keeps the member's YES to a follow-up, once.
func (s *Store) RecordFollowUpYes(ctx context.Context, campaignID, contactID string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE poll_answers SET follow_up_yes_at = $3
		WHERE campaign_id = $1::uuid AND contact_id = $2 AND follow_up_event <> '' AND follow_up_yes_at IS NULL`,
		campaignID, contactID, at)
	if err != nil {
		return fmt.Errorf("recording yes to poll follow-up: %w", err)
	}
	return nil
}

// PollCount is a poll's answers so far.
type PollCount struct {
	Counts   map[string]int `json:"counts"`
	Answered int            `json:"answered"`
	NoAnswer int            `json:"no_answer"`
	// FollowUpYes counts members who said YES to a follow-up.
	FollowUpYes int `json:"follow_up_yes"`
}

// pollCountSQL counts a poll's answers per label.
const pollCountSQL = `SELECT answer, count(*), count(follow_up_yes_at) FROM poll_answers
	WHERE campaign_id = $1::uuid GROUP BY answer`

// CountPoll counts a poll's answers per label (every label present, 0
// for none) against its recipients.
func (s *Store) CountPoll(ctx context.Context, campaignID string, labels []string, recipients int) (PollCount, error) {
	rows, err := s.pool.Query(ctx, pollCountSQL, campaignID)
	if err != nil {
		return PollCount{}, fmt.Errorf("counting poll answers: %w", err)
	}
	return readPollCount(rows, labels, recipients)
}

func readPollCount(rows pgx.Rows, labels []string, recipients int) (PollCount, error) {
	pc := PollCount{Counts: make(map[string]int, len(labels))}
	for _, l := range labels {
		pc.Counts[l] = 0
	}
	var answer string
	var n, yes int
	_, err := pgx.ForEachRow(rows, []any{&answer, &n, &yes}, func() error {
		pc.Counts[answer] += n
		pc.Answered += n
		pc.FollowUpYes += yes
		return nil
	})
	if err != nil {
		return PollCount{}, fmt.Errorf("counting poll answers: %w", err)
	}
	pc.NoAnswer = max(recipients-pc.Answered, 0)
	return pc, nil
}

// PollGroup is one value of a contact attribute and its members' answers.
type PollGroup struct {
	Value      string         `json:"value"`
	Counts     map[string]int `json:"counts"`
	Answered   int            `json:"answered"`
	NoAnswer   int            `json:"no_answer"`
	Recipients int            `json:"recipients"`
}

// PollBreakdown splits a poll's answers by a contact attribute as it was
// when the poll went out (the fan-out's snapshot of each member):
// language, or any of the contact's fields (worksite, shift, employer).
// Members without the attribute are the group with the empty value.
func (s *Store) PollBreakdown(ctx context.Context, campaignID, by string, labels []string) ([]PollGroup, error) {
	if by == "" || len(by) > 64 {
		return nil, apperr.Invalid("by", "name a contact attribute such as worksite, shift, employer or language")
	}
	attr := "coalesce(r.fields->>$2, '')"
	if by == "language" {
		attr = "(r.language || left($2, 0))"
	}
	rows, err := s.pool.Query(ctx, `SELECT `+attr+` AS value, coalesce(a.answer, ''), count(*)
		FROM (SELECT DISTINCT ON (contact_id) contact_id, language, fields FROM campaign_recipients
		      WHERE campaign_id = $1::uuid ORDER BY contact_id, channel DESC) r
		LEFT JOIN poll_answers a ON a.campaign_id = $1::uuid AND a.contact_id = r.contact_id
		GROUP BY 1, 2 ORDER BY 1, 2`, campaignID, by)
	if err != nil {
		return nil, fmt.Errorf("breaking down poll answers: %w", err)
	}
	var out []PollGroup
	var value, answer string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&value, &answer, &n}, func() error {
		if len(out) == 0 || out[len(out)-1].Value != value {
			g := PollGroup{Value: value, Counts: make(map[string]int, len(labels))}
			for _, l := range labels {
				g.Counts[l] = 0
			}
			out = append(out, g)
		}
		g := &out[len(out)-1]
		g.Recipients += n
		if answer == "" {
			g.NoAnswer += n
		} else {
			g.Counts[answer] += n
			g.Answered += n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("breaking down poll answers: %w", err)
	}
	if out == nil {
		out = []PollGroup{}
	}
	return out, nil
}

// PollRow is one member on a poll's list.
type PollRow struct {
	ContactID  string     `json:"contact_id"`
	FirstName  string     `json:"first_name"`
	LastName   string     `json:"last_name"`
	Answer     string     `json:"answer"` // "" for no answer yet
	Body       string     `json:"body,omitempty"`
	Channel    string     `json:"channel,omitempty"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	Changes    int        `json:"changes"`
	// FollowUpYesAt is when the member said YES to the follow-up.
	FollowUpYesAt *time.Time `json:"follow_up_yes_at,omitempty"`
}

// PollAnswers lists a poll's recipients with their answers in contact
// order after after; answer keeps one label, or none for those who have
// not answered.
func (s *Store) PollAnswers(ctx context.Context, campaignID, answer, after string, limit int) ([]PollRow, error) {
	cond, args := "", []any{campaignID, after, clamp(limit)}
	switch answer {
	case "":
	case "none":
		cond = " AND a.answer IS NULL"
	default:
		args = append(args, answer)
		cond = " AND a.answer = $4"
	}
	rows, err := s.pool.Query(ctx, `SELECT r.contact_id, r.first_name, r.last_name, coalesce(a.answer, ''), coalesce(a.body, ''),
			coalesce(a.channel, ''), a.answered_at, a.follow_up_yes_at,
			(SELECT count(*) FROM poll_answer_history h WHERE h.campaign_id = $1::uuid AND h.contact_id = r.contact_id)
		FROM (SELECT DISTINCT ON (contact_id) contact_id, first_name, last_name FROM campaign_recipients
		      WHERE campaign_id = $1::uuid AND contact_id > $2 ORDER BY contact_id, channel DESC) r
		LEFT JOIN poll_answers a ON a.campaign_id = $1::uuid AND a.contact_id = r.contact_id
		WHERE true`+cond+` ORDER BY r.contact_id LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing poll answers: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PollRow, error) {
		var x PollRow
		return x, r.Scan(&x.ContactID, &x.FirstName, &x.LastName, &x.Answer, &x.Body, &x.Channel, &x.AnsweredAt, &x.FollowUpYesAt, &x.Changes)
	})
	if err != nil {
		return nil, fmt.Errorf("reading poll answers: %w", err)
	}
	if list == nil {
		list = []PollRow{}
	}
	return list, nil
}

// PollHistoryEntry is one answer a member gave to a poll.
type PollHistoryEntry struct {
	CampaignID   string    `json:"campaign_id"`
	CampaignName string    `json:"campaign_name"`
	Question     string    `json:"question"`
	Answer       string    `json:"answer"`
	Previous     string    `json:"previous,omitempty"`
	Body         string    `json:"body"`
	Channel      string    `json:"channel"`
	AnsweredAt   time.Time `json:"answered_at"`
}

// MemberPollHistory lists every answer a member gave to any poll, newest
// first: the member's history of poll answers and their changes.
func (s *Store) MemberPollHistory(ctx context.Context, contactID string, limit int) ([]PollHistoryEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT h.campaign_id::text, c.name, coalesce(c.spec->'poll'->>'question', ''), h.answer, h.previous,
			h.body, h.channel, h.answered_at
		FROM poll_answer_history h JOIN campaigns c ON c.id = h.campaign_id
		WHERE h.contact_id = $1 ORDER BY h.answered_at DESC, h.event_id LIMIT $2`, contactID, clamp(limit))
	if err != nil {
		return nil, fmt.Errorf("reading member's poll answers: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PollHistoryEntry, error) {
		var e PollHistoryEntry
		return e, r.Scan(&e.CampaignID, &e.CampaignName, &e.Question, &e.Answer, &e.Previous, &e.Body, &e.Channel, &e.AnsweredAt)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("reading member's poll answers: %w", err)
	}
	if list == nil {
		list = []PollHistoryEntry{}
	}
	return list, nil
}
