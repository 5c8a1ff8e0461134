// Package importer brings an organizer's CSV file into the member list:
// it maps columns to fields, normalizes rows in parallel, matches them to
// existing contacts and to each other (by member id, then phone, then
// email), merges each batch with one statement, and records a report line
// for every row it rejected or merged. Killed half-way, it can simply be
// run again: rows are upserted, never duplicated.
package importer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/shared/apperr"
)

// The fields a column can be mapped to, besides "attributes.<key>" (any
// custom field) and the standard attributes worksite, employer,
// department, role and shift.
const (
	FieldFirstName = "first_name"
	FieldLastName  = "last_name"
	// FieldName is a full name, split at its last space into first and
	// last name where those are not given by columns of their own.
	FieldName     = "name"
	FieldPhone    = "phone"
	FieldEmail    = "email"
	FieldMemberID = "member_id"
	FieldTimeZone = "time_zone"
	FieldLanguage = "language"
	// FieldTags holds tags separated by commas or semicolons.
	FieldTags = "tags"
	// FieldSMSOptOut and FieldEmailOptOut hold yes/no: yes records an
	// opt-out of that channel. FieldOptOut opts out of both. No value ever
	// records an opt-in.
	FieldSMSOptOut   = "sms_opt_out"
	FieldEmailOptOut = "email_opt_out"
	FieldOptOut      = "opt_out"
	// FieldAssignee holds the email of the console account (organizer,
	// admin or steward) the member is assigned to; the console passes the
	// import its directory of those accounts. An empty cell leaves the
	// member's assignee as it is.
	FieldAssignee = "assignee"
	// FieldIgnore skips the column.
	FieldIgnore = "ignore"

	attributePrefix = "attributes."
)

// Column says how one column of the file is read.
type Column struct {
	// Index is the 0-based position of the column.
	Index  int    `json:"index"`
	Header string `json:"header"`
	// Field is one of the Field constants or "attributes.<key>".
	Field string `json:"field"`
	// Guessed is true when the field came from the header, false when the
	// organizer's mapping named it.
	Guessed bool `json:"guessed"`
}

// Plan is how a file's columns are read, with warnings an organizer
// should see (a repeated header, a column kept as a custom attribute
// because another already took its field).
type Plan struct {
	Columns  []Column
	Warnings []string
}

// headerKey folds a header for guessing: lower case, punctuation and
// underscores as spaces, "#" as "number", spaces collapsed.
func headerKey(h string) string {
	h = strings.ReplaceAll(strings.ToLower(h), "#", " number ")
	var b strings.Builder
	space := false
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 0x7f {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
			continue
		}
		space = true
	}
	return b.String()
}

// guess maps a folded header to a field, "" when it is not a header
// Muster knows (the column is then kept as a custom attribute).
func guess(key string) string {
	switch key {
	case "first name", "first", "given name", "firstname", "fname", "forename":
		return FieldFirstName
	case "last name", "last", "surname", "family name", "lastname", "lname":
		return FieldLastName
	case "name", "full name", "fullname", "member name":
		return FieldName
	case "mobile", "cell", "phone", "phone number", "mobile phone", "cell phone", "mobile number", "cell number",
		"mobile phone number", "cell phone number", "telephone", "tel", "phone no", "sms", "sms number", "text number":
		return FieldPhone
	case "email", "e mail", "email address", "e mail address", "mail":
		return FieldEmail
	case "member id", "memberid", "member number", "member no", "member num", "id number", "union id":
		return FieldMemberID
	case "worksite", "work site", "site", "work location", "location", "facility":
		return attributePrefix + contact.AttrWorksite
	case "employer", "company", "agency":
		return attributePrefix + contact.AttrEmployer
	case "department", "dept", "dept name", "department name":
		return attributePrefix + contact.AttrDepartment
	case "role", "job title", "title", "position", "job", "classification":
		return attributePrefix + contact.AttrRole
	case "shift", "work shift":
		return attributePrefix + contact.AttrShift
	case "language", "preferred language", "lang":
		return FieldLanguage
	case "tags", "tag", "labels", "groups":
		return FieldTags
	case "time zone", "timezone", "tz":
		return FieldTimeZone
	case "sms opt out", "sms opted out", "text opt out", "do not text", "dnt", "no texts", "sms unsubscribed":
		return FieldSMSOptOut
	case "email opt out", "email opted out", "do not email", "email unsubscribed", "no emails":
		return FieldEmailOptOut
	case "opt out", "opted out", "unsubscribed", "do not contact":
		return FieldOptOut
	case "assignee", "assigned to", "assignee email", "assigned organizer", "assigned steward":
		return FieldAssignee
	case "contact id", "sms consent", "email consent", "created at", "updated at":
		// Columns of Muster's own export: consent comes from the ledger
		// only, never back from a file.
		return FieldIgnore
	}
	return ""
}

// parseField validates a field named in an organizer's mapping.
func parseField(f string) (string, error) {
	f = strings.TrimSpace(f)
	lf := strings.ToLower(f)
	switch lf {
	case "", "skip":
		return FieldIgnore, nil
	case FieldFirstName, FieldLastName, FieldName, FieldPhone, FieldEmail, FieldMemberID, FieldTimeZone,
		FieldLanguage, FieldTags, FieldSMSOptOut, FieldEmailOptOut, FieldOptOut, FieldAssignee, FieldIgnore:
		return lf, nil
	}
	for _, k := range contact.KnownAttributes() {
		if lf == k {
			return attributePrefix + k, nil
		}
	}
	if strings.HasPrefix(lf, attributePrefix) {
		if key := contact.AttributeKey(f[len(attributePrefix):]); key != "" {
			return attributePrefix + key, nil
		}
	}
	return "", fmt.Errorf("%q is not a field: want first_name, last_name, name, phone, email, member_id, "+
		"worksite, employer, department, role, shift, language, time_zone, tags, sms_opt_out, email_opt_out, "+
		"opt_out, assignee, attributes.<name> or ignore", f)
}

// singleValued fields take one column at most.
func singleValued(field string) bool {
	return field != FieldTags && field != FieldIgnore && field != FieldOptOut &&
		field != FieldSMSOptOut && field != FieldEmailOptOut
}

// MakePlan decides how each column is read: the organizer's mapping
// (header name, or "#3" for the third column, to field) first, then
// guesses from the headers; a column nothing claims is kept as a custom
// attribute named after its header. A repeated header is kept under a
// numbered name ("phone_2") with a warning, so no cell is lost.
func MakePlan(header []string, mapping map[string]string) (Plan, error) {
	var p Plan
	cols := make([]Column, len(header))
	explicit := make([]bool, len(header))
	seen := map[string]int{}
	for i, h := range header {
		cols[i] = Column{Index: i, Header: strings.TrimSpace(h)}
		if k := strings.ToLower(cols[i].Header); k != "" {
			if first, dup := seen[k]; dup {
				p.Warnings = append(p.Warnings, fmt.Sprintf("column %d repeats the header %q of column %d", i+1, cols[i].Header, first+1))
			} else {
				seen[k] = i
			}
		}
	}
	for name, field := range mapping {
		idx := -1
		if n, err := strconv.Atoi(strings.TrimPrefix(name, "#")); err == nil && strings.HasPrefix(name, "#") {
			if n < 1 || n > len(header) {
				return Plan{}, apperr.Invalid("mapping", "column %s does not exist: the file has %d columns", name, len(header))
			}
			idx = n - 1
		} else if i, ok := seen[strings.ToLower(strings.TrimSpace(name))]; ok {
			idx = i
		}
		if idx < 0 {
			return Plan{}, apperr.Invalid("mapping", "the file has no column %q (its headers are %s)", name, quoteList(header))
		}
		f, err := parseField(field)
		if err != nil {
			return Plan{}, apperr.Invalid("mapping", "column %q: %v", name, err)
		}
		if explicit[idx] && cols[idx].Field != f {
			return Plan{}, apperr.Invalid("mapping", "column %q is mapped twice", name)
		}
		cols[idx].Field, explicit[idx] = f, true
	}
	taken := map[string]int{}
	for i := range cols {
		if explicit[i] && singleValued(cols[i].Field) {
			if j, dup := taken[cols[i].Field]; dup {
				return Plan{}, apperr.Invalid("mapping", "columns %q and %q are both mapped to %s", cols[j].Header, cols[i].Header, cols[i].Field)
			}
			taken[cols[i].Field] = i
		}
	}
	hasName := false
	for i := range cols {
		if explicit[i] {
			continue
		}
		cols[i].Guessed = true
		f := guess(headerKey(cols[i].Header))
		if h := cols[i].Header; len(h) > len(attributePrefix) && strings.EqualFold(h[:len(attributePrefix)], attributePrefix) {
			// Muster's export names custom fields attributes.<key>.
			if key := contact.AttributeKey(h[len(attributePrefix):]); key != "" {
				f = attributePrefix + key
			}
		}
		if j, dup := taken[f]; dup && singleValued(f) {
			p.Warnings = append(p.Warnings, fmt.Sprintf("column %d %q looks like %s, but column %d %q already is; kept as a custom attribute",
				i+1, cols[i].Header, f, j+1, cols[j].Header))
			f = ""
		}
		if f != "" {
			cols[i].Field = f
			if singleValued(f) {
				taken[f] = i
			}
		}
		hasName = hasName || f == FieldName
	}
	if hasName {
		p.Warnings = append(p.Warnings, "full names are split at the last space into first and last name")
	}
	attrs := map[string]bool{}
	for i := range cols {
		if strings.HasPrefix(cols[i].Field, attributePrefix) {
			attrs[cols[i].Field] = true
		}
	}
	for i := range cols {
		if cols[i].Field != "" {
			continue
		}
		key := contact.AttributeKey(cols[i].Header)
		if key == "" {
			key = fmt.Sprintf("column_%d", i+1)
			p.Warnings = append(p.Warnings, fmt.Sprintf("column %d has no header; kept as attribute %s", i+1, key))
		}
		name := key
		for n := 2; attrs[attributePrefix+name]; n++ {
			name = fmt.Sprintf("%s_%d", key, n)
		}
		if name != key {
			p.Warnings = append(p.Warnings, fmt.Sprintf("column %d %q is kept as attribute %s", i+1, cols[i].Header, name))
		}
		cols[i].Field = attributePrefix + name
		attrs[cols[i].Field] = true
	}
	if n := len(attrs); n > contact.MaxAttributes {
		return Plan{}, apperr.Invalid("mapping", "%d columns would be kept as attributes; a contact holds at most %d: map the ones you do not need to \"ignore\"", n, contact.MaxAttributes)
	}
	if _, ok := taken[FieldPhone]; !ok {
		if _, ok := taken[FieldEmail]; !ok {
			return Plan{}, apperr.Invalid("mapping", "no column holds phone numbers or emails (headers: %s); name one in the mapping, for example {\"Cell\": \"phone\"}", quoteList(header))
		}
	}
	p.Columns = cols
	return p, nil
}

func quoteList(list []string) string {
	const show = 12
	q := make([]string, 0, show+1)
	for i, s := range list {
		if i == show {
			q = append(q, fmt.Sprintf("and %d more", len(list)-show))
			break
		}
		q = append(q, strconv.Quote(s))
	}
	return strings.Join(q, ", ")
}
