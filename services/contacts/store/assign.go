package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// Assignee is a console account a member is assigned to, as the console
// names it when assigning: its id, its name and first name (a snapshot,
// for lists and the {{organizer_first_name}} merge field). The zero
// Assignee unassigns.
type Assignee struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FirstName string `json:"first_name"`
}

// Check refuses an assignee with a name but no id, or fields too long.
func (a Assignee) Check(field string) (Assignee, error) {
	a.ID, a.Name, a.FirstName = strings.TrimSpace(a.ID), strings.TrimSpace(a.Name), strings.TrimSpace(a.FirstName)
	if a.ID == "" && (a.Name != "" || a.FirstName != "") {
		return a, apperr.Invalid(field, "an assignee needs an id")
	}
	if len(a.ID) > 64 || len(a.Name) > 200 || len(a.FirstName) > 200 {
		return a, apperr.Invalid(field, "is too long")
	}
	if a.ID != "" && a.FirstName == "" {
		a.FirstName = strings.Fields(a.Name + " x")[0]
	}
	return a, nil
}

// Assignment is one change of a member's assignee, as the history keeps it.
type Assignment struct {
	AssigneeID   string    `json:"assignee_id"`
	AssigneeName string    `json:"assignee_name"`
	PreviousID   string    `json:"previous_id"`
	Source       string    `json:"source"`
	ChangedBy    string    `json:"changed_by"`
	ChangedAt    time.Time `json:"changed_at"`
}

// Sources of an assignment change.
const (
	AssignByHand    = "hand"
	AssignBulk      = "bulk"
	AssignRebalance = "rebalance"
	AssignImport    = "import"
)

// Assign gives every contact the filter matches the assignee a (the zero
// Assignee unassigns), in one statement, recording each change in
// contact_assignments; it counts the contacts whose assignee changed.
// Contacts already assigned to a keep their history as it is.
func (s *Store) Assign(ctx context.Context, n filter.Node, a Assignee, source, by string) (int64, error) {
	args := &sqlArgs{}
	where := compile(n, args)
	return s.assign(ctx, where, args, a, source, by)
}

// AssignOne assigns one contact by id.
func (s *Store) AssignOne(ctx context.Context, id string, a Assignee, by string) (int64, error) {
	if !events.IsUUID(id) {
		return 0, apperr.NotFound("no contact %s", id)
	}
	if _, err := s.Get(ctx, id); err != nil {
		return 0, err
	}
	args := &sqlArgs{}
	return s.assign(ctx, "c.id = "+args.arg(id)+"::uuid", args, a, AssignByHand, by)
}

func (s *Store) assign(ctx context.Context, where string, args *sqlArgs, a Assignee, source, by string) (int64, error) {
	idArg, nameArg, firstArg := args.arg(a.ID), args.arg(a.Name), args.arg(a.FirstName)
	nowArg, srcArg, byArg := args.arg(s.now()), args.arg(source), args.arg(by)
	tag, err := s.pool.Exec(ctx, `
		WITH changed AS (
			UPDATE contacts c SET assignee_id = `+idArg+`, assignee_name = `+nameArg+`, assignee_first_name = `+firstArg+`,
				updated_at = `+nowArg+`::timestamptz
			FROM contacts old
			WHERE old.id = c.id AND `+where+` AND (c.assignee_id <> `+idArg+` OR c.assignee_name <> `+nameArg+`
				OR c.assignee_first_name <> `+firstArg+`)
			RETURNING c.id, old.assignee_id AS previous_id)
		INSERT INTO contact_assignments (contact_id, assignee_id, assignee_name, previous_id, source, changed_by, changed_at)
		SELECT id, `+idArg+`, `+nameArg+`, previous_id, `+srcArg+`, `+byArg+`, `+nowArg+`::timestamptz FROM changed`, args.list...)
	if err != nil {
		return 0, fmt.Errorf("assigning contacts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Rebalance moves every member assigned to from onto the assignees in to,
// spread evenly (the oldest contact to the first, the next to the second,
// and around), in one transaction; it returns how many each received.
func (s *Store) Rebalance(ctx context.Context, from string, to []Assignee, by string) ([]int64, error) {
	counts := make([]int64, len(to))
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text FROM contacts WHERE assignee_id = $1 ORDER BY created_at, id FOR UPDATE`, from)
		if err != nil {
			return fmt.Errorf("reading the members to rebalance: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("reading the members to rebalance: %w", err)
		}
		share := make([][]string, len(to))
		for i, id := range ids {
			share[i%len(to)] = append(share[i%len(to)], id)
		}
		now := s.now()
		for i, a := range to {
			if len(share[i]) == 0 {
				continue
			}
			if _, err := tx.Exec(ctx, `
				WITH changed AS (
					UPDATE contacts SET assignee_id = $2, assignee_name = $3, assignee_first_name = $4, updated_at = $5
					WHERE id = ANY ($1::uuid[]) RETURNING id)
				INSERT INTO contact_assignments (contact_id, assignee_id, assignee_name, previous_id, source, changed_by, changed_at)
				SELECT id, $2, $3, $6, $7, $8, $5 FROM changed`,
				share[i], a.ID, a.Name, a.FirstName, now, from, AssignRebalance, by); err != nil {
				return fmt.Errorf("rebalancing members: %w", err)
			}
			counts[i] = int64(len(share[i]))
		}
		return nil
	})
	return counts, err
}

// Assignments is a contact's assignment history, newest first.
func (s *Store) Assignments(ctx context.Context, id string) ([]Assignment, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT assignee_id, assignee_name, previous_id, source, changed_by, changed_at
		FROM contact_assignments WHERE contact_id = $1::uuid ORDER BY changed_at DESC, id DESC LIMIT 100`, id)
	if err != nil {
		return nil, fmt.Errorf("reading assignments: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Assignment])
	if err != nil {
		return nil, fmt.Errorf("reading assignments: %w", err)
	}
	return list, nil
}
