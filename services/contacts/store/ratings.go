package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// checkRater refuses a rating with no rater or an overlong note.
func checkRater(level int, by, note string) error {
	if err := contact.CheckRating(level); err != nil {
		return err
	}
	if strings.TrimSpace(by) == "" || len(by) > 200 {
		return apperr.Invalid("by", "name who rated, in at most 200 bytes")
	}
	if len(note) > contact.MaxRatingNote {
		return apperr.Invalid("note", "a note is at most %d bytes", contact.MaxRatingNote)
	}
	return nil
}

// Rate records one member's support rating: a row of history and the
// contact's latest rating, in one statement.
func (s *Store) Rate(ctx context.Context, id string, level int, by, note string) (contact.Rating, error) {
	if err := checkRater(level, by, note); err != nil {
		return contact.Rating{}, err
	}
	if !events.IsUUID(id) {
		return contact.Rating{}, apperr.NotFound("no contact %s", id)
	}
	now := s.now()
	var r contact.Rating
	var at = now
	err := s.pool.QueryRow(ctx, `
		WITH target AS (
			UPDATE contacts SET rating = $2, rated_at = $4, rated_by = $3 WHERE id = $1::uuid RETURNING id
		)
		INSERT INTO contact_ratings (contact_id, rating, rated_by, note, rated_at)
		SELECT id, $2, $3, $5, $4 FROM target
		RETURNING contact_id::text, rated_at`, id, level, strings.TrimSpace(by), at, strings.TrimSpace(note)).Scan(&r.ContactID, &r.RatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return contact.Rating{}, apperr.NotFound("no contact %s", id)
	}
	if err != nil {
		return contact.Rating{}, fmt.Errorf("rating contact %s: %w", id, err)
	}
	r.Rating, r.Label, r.RatedBy, r.Note = level, contact.RatingLabel(level), strings.TrimSpace(by), strings.TrimSpace(note)
	return r, nil
}

// MaxRateIDs is the most contacts RateMany takes by id at once.
const MaxRateIDs = 1000

// RateMany gives every contact a filter selects, or the contacts named by
// id, the same rating, each with its row of history, in one statement. It
// returns the ids rated. Ids that name no contact are skipped; the count
// says how many were rated.
func (s *Store) RateMany(ctx context.Context, n *filter.Node, ids []string, level int, by, note string) ([]string, error) {
	if err := checkRater(level, by, note); err != nil {
		return nil, err
	}
	a := &sqlArgs{}
	var where string
	switch {
	case n != nil && ids != nil:
		return nil, apperr.Invalid("ids", "rate by ids or by a filter, not both")
	case n != nil:
		where = compile(*n, a)
	case len(ids) == 0:
		return nil, apperr.Invalid("ids", "choose the members to rate, or give a filter")
	case len(ids) > MaxRateIDs:
		return nil, apperr.Invalid("ids", "at most %d members at once; use a filter for more", MaxRateIDs)
	default:
		for _, id := range ids {
			if !events.IsUUID(id) {
				return nil, apperr.Invalid("ids", "%q is not a contact id", id)
			}
		}
		where = "c.id = ANY (" + a.arg(ids) + "::uuid[])"
	}
	levelArg, byArg, atArg, noteArg := a.arg(level), a.arg(strings.TrimSpace(by)), a.arg(s.now()), a.arg(strings.TrimSpace(note))
	rows, err := s.pool.Query(ctx, `
		WITH target AS (
			UPDATE contacts c SET rating = `+levelArg+`::smallint, rated_at = `+atArg+`::timestamptz, rated_by = `+byArg+`::text
			WHERE `+where+` RETURNING c.id
		)
		INSERT INTO contact_ratings (contact_id, rating, rated_by, note, rated_at)
		SELECT id, `+levelArg+`::smallint, `+byArg+`::text, `+noteArg+`::text, `+atArg+`::timestamptz FROM target
		RETURNING contact_id::text`, a.list...)
	if err != nil {
		return nil, fmt.Errorf("rating contacts: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("rating contacts: %w", err)
	}
	return out, nil
}

// Ratings is a member's rating history, newest first (at most limit).
func (s *Store) Ratings(ctx context.Context, id string, limit int) ([]contact.Rating, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `
		SELECT contact_id::text, rating, rated_by, note, rated_at FROM contact_ratings
		WHERE contact_id = $1::uuid ORDER BY rated_at DESC, id DESC LIMIT $2`, id, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("reading ratings of %s: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (contact.Rating, error) {
		var x contact.Rating
		err := r.Scan(&x.ContactID, &x.Rating, &x.RatedBy, &x.Note, &x.RatedAt)
		x.Label = contact.RatingLabel(x.Rating)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading ratings of %s: %w", id, err)
	}
	return out, nil
}

// ChartMember is one member as the chart lists them.
type ChartMember struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	// Rating is 0 while unassessed.
	Rating int `json:"rating"`
	// Assignee is the name of the organizer or steward the member is
	// assigned to, when contacts keeps assignments (empty otherwise).
	Assignee string `json:"assignee,omitempty"`
}

// ChartGroup is one worksite and shift (or whatever the chart is by).
type ChartGroup struct {
	// Keys are the group's values, in the order of the chart's by.
	Keys []string `json:"keys"`
	// Levels counts the members at each level: Levels[0] is level 1.
	Levels     [5]int64 `json:"levels"`
	Unassessed int64    `json:"unassessed"`
	Total      int64    `json:"total"`
	// Members lists who is in the group, by level (unassessed last), then
	// by name; the chart lists at most MaxChartMembers in all.
	Members []ChartMember `json:"members"`
}

// Chart is the chart-the-workplace view: counts per group and level, and
// the members behind them.
type Chart struct {
	By     []string     `json:"by"`
	Groups []ChartGroup `json:"groups"`
	// Truncated is true when there were more members than the lists
	// hold; the counts are always whole.
	Truncated bool `json:"truncated"`
}

// MaxChartMembers is how many members the chart's lists hold in all.
const MaxChartMembers = 5000

// ChartBy checks what a chart may be grouped by: one to three standard
// attributes (worksite, shift, employer, department, role …).
func ChartBy(by []string) ([]string, error) {
	if len(by) == 0 {
		return []string{contact.AttrWorksite, "shift"}, nil
	}
	if len(by) > 3 {
		return nil, apperr.Invalid("by", "group by at most 3 fields")
	}
	known := map[string]bool{}
	for _, k := range contact.KnownAttributes() {
		known[k] = true
	}
	out := make([]string, 0, len(by))
	for _, b := range by {
		k := strings.ToLower(strings.TrimSpace(b))
		if !known[k] {
			return nil, apperr.Invalid("by", "%q is not a field the chart groups by: want %s", b, strings.Join(contact.KnownAttributes(), ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

// Chart counts the members a filter selects at each support level per
// group (by, from ChartBy), and lists them.
func (s *Store) Chart(ctx context.Context, n filter.Node, by []string) (Chart, error) {
	by, err := ChartBy(by)
	if err != nil {
		return Chart{}, err
	}
	a := &sqlArgs{}
	where := compile(n, a)
	keys := make([]string, len(by))
	for i := range by {
		// by holds standard attribute keys only (ChartBy), so each is a
		// fixed literal; the group is the value trimmed, as typed.
		keys[i] = "btrim(coalesce(c.attributes ->> '" + by[i] + "', ''))"
	}
	keyList := strings.Join(keys, ", ")
	rows, err := s.pool.Query(ctx, `
		SELECT ARRAY[`+keyList+`], coalesce(c.rating, 0)::int, count(*)
		FROM contacts c WHERE `+where+`
		GROUP BY `+keyList+`, c.rating`, a.list...)
	if err != nil {
		return Chart{}, fmt.Errorf("counting the chart: %w", err)
	}
	groups := map[string]*ChartGroup{}
	var order []string
	group := func(k []string) *ChartGroup {
		id := strings.Join(k, "\x00")
		g, ok := groups[id]
		if !ok {
			g = &ChartGroup{Keys: k, Members: []ChartMember{}}
			groups[id] = g
			order = append(order, id)
		}
		return g
	}
	for rows.Next() {
		var k []string
		var level int
		var count int64
		if err := rows.Scan(&k, &level, &count); err != nil {
			rows.Close()
			return Chart{}, fmt.Errorf("reading the chart: %w", err)
		}
		g := group(k)
		if level >= contact.MinRating && level <= contact.MaxRating {
			g.Levels[level-1] += count
		} else {
			g.Unassessed += count
		}
		g.Total += count
	}
	if err := rows.Err(); err != nil {
		return Chart{}, fmt.Errorf("reading the chart: %w", err)
	}
	// to_jsonb reads the assignee when contacts keeps one (migration 0005
	// of issue 18's assignment) and is NULL otherwise.
	rows, err = s.pool.Query(ctx, `
		SELECT ARRAY[`+keyList+`], c.id::text, c.first_name, c.last_name, coalesce(c.rating, 0)::int,
			coalesce(to_jsonb(c) ->> 'assignee_name', '')
		FROM contacts c WHERE `+where+`
		ORDER BY `+keyList+`, c.rating NULLS LAST, lower(c.last_name), lower(c.first_name), c.id
		LIMIT `+a.arg(MaxChartMembers+1), a.list...)
	if err != nil {
		return Chart{}, fmt.Errorf("listing the chart: %w", err)
	}
	listed := 0
	out := Chart{By: by, Groups: []ChartGroup{}}
	for rows.Next() {
		var k []string
		var m ChartMember
		if err := rows.Scan(&k, &m.ID, &m.FirstName, &m.LastName, &m.Rating, &m.Assignee); err != nil {
			rows.Close()
			return Chart{}, fmt.Errorf("reading the chart's members: %w", err)
		}
		if listed++; listed > MaxChartMembers {
			out.Truncated = true
			rows.Close()
			break
		}
		g := group(k)
		g.Members = append(g.Members, m)
	}
	if err := rows.Err(); err != nil {
		return Chart{}, fmt.Errorf("reading the chart's members: %w", err)
	}
	sortGroups(order, groups)
	for _, id := range order {
		out.Groups = append(out.Groups, *groups[id])
	}
	return out, nil
}

// sortGroups orders groups by their keys, ignoring case, with the empty
// value ("no worksite") last.
func sortGroups(order []string, groups map[string]*ChartGroup) {
	less := func(a, b []string) bool {
		for i := range a {
			x, y := strings.ToLower(a[i]), strings.ToLower(b[i])
			if x == y {
				continue
			}
			if x == "" || y == "" {
				return y == ""
			}
			return x < y
		}
		return false
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && less(groups[order[j]].Keys, groups[order[j-1]].Keys); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
}
