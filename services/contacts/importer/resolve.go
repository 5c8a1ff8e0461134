package importer

import (
	"fmt"

	"github.com/musterhq/muster/services/contacts/store"
)

// outcome is what became of one row.
type outcome int

const (
	outRejected outcome = iota
	// outNew made a new contact.
	outNew
	// outMatched is the first row of this import to match an existing
	// contact; the merge says whether it changed anything.
	outMatched
	// outMerged repeats a contact an earlier row of this import made or
	// changed.
	outMerged
)

// entity is a contact as a batch sees it: an existing one the lookup
// found, or one a row of the batch creates.
type entity struct {
	id                     string
	memberID, phone, email string
	// line is the first line of this import that made or changed it, 0
	// when no row has yet.
	line int64
	// isNew is set for a contact this batch creates.
	isNew bool
	op    *store.StageRow
}

// resolution is a batch matched against itself and the database.
type resolution struct {
	stage    []store.StageRow
	outcomes []outcome
	targets  []*entity
	issues   []store.ImportIssue
}

// keyColumns names the columns that hold the matching keys, for the report.
type keyColumns struct{ memberID, phone, email string }

// resolve matches each good row, in file order, to the contact it is
// about: the one with its member id, else its phone, else its email, among
// existing contacts and rows earlier in the batch. A row whose keys point
// at two different contacts would need them merged, which an import does
// not guess at: it is rejected with both named. Rows about the same
// contact fold into one staged row, so the merge statement touches each
// contact once.
func resolve(rows []row, existing []store.Existing, cols keyColumns, newID func() string) resolution {
	res := resolution{outcomes: make([]outcome, len(rows)), targets: make([]*entity, len(rows))}
	byMember, byPhone, byEmail := map[string]*entity{}, map[string]*entity{}, map[string]*entity{}
	index := func(e *entity) {
		if e.memberID != "" {
			byMember[e.memberID] = e
		}
		if e.phone != "" {
			byPhone[e.phone] = e
		}
		if e.email != "" {
			byEmail[e.email] = e
		}
	}
	for _, x := range existing {
		index(&entity{id: x.ID, memberID: x.MemberID, phone: x.Phone, email: x.Email, line: x.ImportLine})
	}
	var staged []*entity
	for i := range rows {
		r := &rows[i]
		if len(r.issues) > 0 {
			res.outcomes[i] = outRejected
			continue
		}
		c := r.c
		lookups := []struct {
			key, value, column string
			found              *entity
		}{
			{"member id", c.MemberID, cols.memberID, lookup(byMember, c.MemberID)},
			{"phone", string(c.Phone), cols.phone, lookup(byPhone, string(c.Phone))},
			{"email", string(c.Email), cols.email, lookup(byEmail, string(c.Email))},
		}
		var target *entity
		matchedBy := ""
		for _, l := range lookups {
			if l.found != nil {
				target, matchedBy = l.found, l.key
				break
			}
		}
		if target == nil {
			e := &entity{id: newID(), memberID: c.MemberID, phone: string(c.Phone), email: string(c.Email), line: r.line, isNew: true}
			e.op = &store.StageRow{ID: e.id, Line: r.line}
			apply(e.op, r)
			e.op.AttributesJSON = r.attrs
			index(e)
			staged = append(staged, e)
			res.outcomes[i], res.targets[i] = outNew, e
			continue
		}
		conflict := false
		for _, l := range lookups {
			if l.found != nil && l.found != target {
				r.issues = append(r.issues, issue{column: l.column, reason: fmt.Sprintf(
					"%s %s belongs to %s, but the row's %s matches %s; fix the row, or merge the two contacts first",
					l.key, l.value, describe(l.found), matchedBy, describe(target))})
				conflict = true
			}
		}
		if c.MemberID != "" && target.memberID != "" && c.MemberID != target.memberID {
			r.issues = append(r.issues, issue{column: cols.memberID, reason: fmt.Sprintf(
				"member id %s differs from member id %s of %s, which has the same %s",
				c.MemberID, target.memberID, describe(target), matchedBy)})
			conflict = true
		}
		if conflict {
			res.outcomes[i] = outRejected
			continue
		}
		res.targets[i] = target
		note := ""
		switch {
		case target.op == nil && target.line == 0:
			res.outcomes[i] = outMatched
			target.line = r.line
		default:
			res.outcomes[i] = outMerged
			note = fmt.Sprintf("same %s as line %d: merged into that contact", matchedBy, target.line)
		}
		if target.op == nil {
			target.op = &store.StageRow{ID: target.id, Line: r.line, Existing: !target.isNew}
			staged = append(staged, target)
		}
		if p := string(c.Phone); p != "" && p != target.phone {
			if note != "" && target.phone != "" {
				note += fmt.Sprintf("; phone %s replaced by %s", target.phone, p)
			}
			target.phone = p
		}
		if e := string(c.Email); e != "" && e != target.email {
			if note != "" && target.email != "" {
				note += fmt.Sprintf("; email %s replaced by %s", target.email, e)
			}
			target.email = e
		}
		if target.memberID == "" {
			target.memberID = c.MemberID
		}
		// Old keys stay indexed: a later row with the replaced phone still
		// finds this contact instead of taking the number for a new one
		// in the same statement.
		index(target)
		first := target.op.Line == r.line
		apply(target.op, r)
		target.op.AttributesJSON = ""
		if first {
			target.op.AttributesJSON = r.attrs
		}
		if note != "" {
			res.issues = append(res.issues, store.ImportIssue{Line: r.line, Kind: store.IssueMerged, Column: columnFor(matchedBy, cols),
				Reason: note, ContactID: target.id})
		}
	}
	res.stage = make([]store.StageRow, len(staged))
	for i, e := range staged {
		res.stage[i] = *e.op
	}
	return res
}

func lookup(m map[string]*entity, key string) *entity {
	if key == "" {
		return nil
	}
	return m[key]
}

func describe(e *entity) string {
	if e.line > 0 {
		return fmt.Sprintf("the contact from line %d", e.line)
	}
	return "existing contact " + e.id
}

func columnFor(key string, cols keyColumns) string {
	switch key {
	case "member id":
		return cols.memberID
	case "phone":
		return cols.phone
	}
	return cols.email
}

// apply folds a row into a staged contact: a later row's non-empty
// fields win, tags and attributes add up.
func apply(op *store.StageRow, r *row) {
	c := r.c
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&op.MemberID, c.MemberID)
	set(&op.FirstName, c.FirstName)
	set(&op.LastName, c.LastName)
	set(&op.Phone, string(c.Phone))
	set(&op.Email, string(c.Email))
	set(&op.TimeZone, c.TimeZone)
	set(&op.Language, c.Language)
	if r.assignee.ID != "" {
		op.Assignee = r.assignee
	}
	for _, t := range c.Tags {
		dup := false
		for _, have := range op.Tags {
			if have == t {
				dup = true
				break
			}
		}
		if !dup {
			op.Tags = append(op.Tags, t)
		}
	}
	if len(c.Attributes) > 0 && op.Attributes == nil {
		op.Attributes = make(map[string]string, len(c.Attributes))
	}
	for k, v := range c.Attributes {
		op.Attributes[k] = v
	}
}
