package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/csvsafe"
)

// rawRow is a record as read, before normalization.
type rawRow struct {
	line   int64
	fields []string
	err    error
	errCol int
}

// issue is one problem with one row, for the report.
type issue struct {
	column string
	reason string
}

// optOut is a channel a row opts its address out of.
type optOut struct {
	channel string
	address string
	column  string
	value   string
}

// row is a normalized row: a contact to merge, or the reasons it was
// rejected. Opt-outs are kept even for a rejected row when its address
// itself is valid: an opt-out is honoured whatever else is wrong.
type row struct {
	line int64
	c    contact.Contact
	// attrs is c.Attributes as JSON, encoded by the worker so the merging
	// goroutine (the pipeline's bottleneck) does not have to.
	attrs   string
	issues  []issue
	optOuts []optOut
	// assignee is the account the row assigns the contact to; the zero
	// Assignee (an empty cell) leaves the contact's assignee as it is.
	assignee store.Assignee
}

// converter turns raw rows into rows for one plan. It is not safe for
// concurrent use: each worker has its own.
type converter struct {
	plan   Plan
	norm   *contact.Normalizer
	region string
	// columnOf names the column a field's errors are reported under.
	columnOf map[string]string
	width    int
	// assignees reads the assignee column.
	assignees Directory
}

func newConverter(plan Plan, region string, assignees Directory) *converter {
	cv := &converter{plan: plan, norm: contact.NewNormalizer(region), region: region, columnOf: map[string]string{},
		width: len(plan.Columns), assignees: assignees}
	for _, c := range plan.Columns {
		f := c.Field
		if f == FieldName {
			cv.setColumn(FieldFirstName, c.Header)
			cv.setColumn(FieldLastName, c.Header)
		}
		if strings.HasPrefix(f, attributePrefix) {
			f = "attributes." + strings.TrimPrefix(f, attributePrefix)
		}
		cv.setColumn(f, c.Header)
	}
	return cv
}

func (cv *converter) setColumn(field, header string) {
	if _, ok := cv.columnOf[field]; !ok {
		cv.columnOf[field] = header
	}
}

func (cv *converter) header(i int) string {
	if i >= 0 && i < len(cv.plan.Columns) {
		return cv.plan.Columns[i].Header
	}
	if i >= 0 {
		return fmt.Sprintf("#%d", i+1)
	}
	return ""
}

func (cv *converter) convert(raw rawRow) row {
	r := row{line: raw.line}
	if raw.err != nil {
		r.issues = append(r.issues, issue{column: cv.header(raw.errCol), reason: raw.err.Error()})
		return r
	}
	fields := raw.fields
	if len(fields) > cv.width {
		for _, extra := range fields[cv.width:] {
			if strings.TrimSpace(extra) != "" {
				r.issues = append(r.issues, issue{reason: fmt.Sprintf("the row has %d cells but the header has %d columns; "+
					"a comma inside an unquoted cell splits it in two", len(fields), cv.width)})
				return r
			}
		}
		fields = fields[:cv.width]
	}
	if len(fields) < cv.width {
		r.issues = append(r.issues, issue{reason: fmt.Sprintf("the row has %d cells but the header has %d columns", len(fields), cv.width)})
		return r
	}
	var d contact.Draft
	var fullName string
	d.Attributes = map[string]string{}
	for i, col := range cv.plan.Columns {
		v := strings.TrimSpace(csvsafe.Unneutralize(fields[i]))
		if v == "" {
			continue
		}
		switch col.Field {
		case FieldFirstName:
			d.FirstName = v
		case FieldLastName:
			d.LastName = v
		case FieldName:
			fullName = v
		case FieldPhone:
			d.Phone = v
		case FieldEmail:
			d.Email = v
		case FieldMemberID:
			d.MemberID = v
		case FieldTimeZone:
			d.TimeZone = v
		case FieldLanguage:
			d.Language = v
		case FieldTags:
			d.Tags = append(d.Tags, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' })...)
		case FieldSMSOptOut, FieldEmailOptOut, FieldOptOut:
			yes, ok := parseYesNo(v)
			if !ok {
				r.issues = append(r.issues, issue{column: col.Header, reason: fmt.Sprintf("%q is not yes or no", v)})
				continue
			}
			if yes {
				if col.Field != FieldEmailOptOut {
					r.optOuts = append(r.optOuts, optOut{channel: "sms", column: col.Header, value: v})
				}
				if col.Field != FieldSMSOptOut {
					r.optOuts = append(r.optOuts, optOut{channel: "email", column: col.Header, value: v})
				}
			}
		case FieldAssignee:
			a, err := cv.assignees.lookup(v)
			if err != nil {
				r.issues = append(r.issues, issue{column: col.Header, reason: err.Error()})
				continue
			}
			r.assignee = a
		case FieldIgnore:
		default:
			d.Attributes[strings.TrimPrefix(col.Field, attributePrefix)] = v
		}
	}
	if fullName != "" {
		first, last := splitName(fullName)
		if d.FirstName == "" {
			d.FirstName = first
		}
		if d.LastName == "" {
			d.LastName = last
		}
	}
	c, errs := cv.norm.Normalize(d)
	for _, err := range errs {
		field := apperr.FieldOf(err)
		msg := err.Error()
		var ae *apperr.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		r.issues = append(r.issues, issue{column: cv.columnOf[field], reason: field + ": " + msg})
	}
	if len(r.issues) == 0 {
		r.c = c
		attrs, err := json.Marshal(c.Attributes)
		if err != nil { // a map of strings always encodes
			r.issues = append(r.issues, issue{reason: err.Error()})
		}
		r.attrs = string(attrs)
	}
	cv.addresses(&r, d)
	return r
}

// addresses fills in the address each opt-out applies to: the row's
// phone or email when it is valid, whatever else is wrong with the row.
func (cv *converter) addresses(r *row, d contact.Draft) {
	kept := r.optOuts[:0]
	for _, o := range r.optOuts {
		switch o.channel {
		case "sms":
			if r.c.Phone != "" {
				o.address = string(r.c.Phone)
			} else if p, err := contact.ParsePhone(d.Phone, cv.region); err == nil && d.Phone != "" {
				o.address = string(p)
			}
		case "email":
			if r.c.Email != "" {
				o.address = string(r.c.Email)
			} else if e, err := contact.ParseEmail(d.Email); err == nil && d.Email != "" {
				o.address = string(e)
			}
		}
		if o.address != "" {
			kept = append(kept, o)
		}
	}
	r.optOuts = kept
}

// parseYesNo reads an opt-out cell. Anything it does not recognise is
// refused rather than guessed: a wrong guess either way is a wrong record
// of consent.
func parseYesNo(v string) (yes, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "y", "true", "t", "1", "x", "opted out", "opted_out", "opt out", "optout", "unsubscribed", "stop", "stopped":
		return true, true
	case "no", "n", "false", "f", "0", "subscribed", "opted in", "opted_in":
		return false, true
	}
	return false, false
}

// splitName splits "Ana María Ruiz" into "Ana María" and "Ruiz", and
// "Ruiz, Ana" into "Ana" and "Ruiz".
func splitName(full string) (first, last string) {
	if l, f, ok := strings.Cut(full, ","); ok {
		return strings.TrimSpace(f), strings.TrimSpace(l)
	}
	full = strings.Join(strings.Fields(full), " ")
	if i := strings.LastIndexByte(full, ' '); i > 0 {
		return full[:i], full[i+1:]
	}
	return full, ""
}
