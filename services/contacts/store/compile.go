package store

import (
	"strconv"
	"strings"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
)

// sqlArgs collects the parameters of one statement. Every value a filter
// carries goes through arg; only names from fixed lists in this file (the
// contacts columns, the standard attribute keys) are ever written into the
// SQL text itself.
type sqlArgs struct{ list []any }

func (a *sqlArgs) arg(v any) string {
	a.list = append(a.list, v)
	return "$" + strconv.Itoa(len(a.list))
}

// indexedAttribute reports the attribute keys written into SQL as
// literals, so that an expression index of migration 0002 applies; any
// other key is a parameter.
func indexedAttribute(key string) bool {
	return key == contact.AttrWorksite
}

// nullableColumn reports the columns that may be NULL; the others are NOT
// NULL text.
func nullableColumn(col string) bool {
	return col == "phone" || col == "email" || col == "member_id"
}

// compile turns a filter into a boolean SQL expression over contacts c.
// Each piece is true or false, never NULL, so {"not": ...} is exact.
func compile(n filter.Node, a *sqlArgs) string {
	switch n.Kind {
	case filter.KindAll, filter.KindAny:
		if len(n.Children) == 0 {
			if n.Kind == filter.KindAll {
				return "TRUE"
			}
			return "FALSE"
		}
		join := " AND "
		if n.Kind == filter.KindAny {
			join = " OR "
		}
		parts := make([]string, len(n.Children))
		for i, c := range n.Children {
			parts[i] = compile(c, a)
		}
		return "(" + strings.Join(parts, join) + ")"
	case filter.KindNot:
		return "NOT " + compile(n.Children[0], a)
	case filter.KindTag:
		return "c.tags @> " + a.arg([]string{n.Tag}) + "::text[]"
	case filter.KindHas:
		expr, nullable := fieldExpr(n.Field, a)
		if nullable && n.Field.Column != "" {
			return "(" + expr + " IS NOT NULL)"
		}
		return "(coalesce(" + expr + ", '') <> '')"
	case filter.KindText:
		return "((c.first_name || ' ' || c.last_name) ILIKE " + a.arg("%"+escapeLike(n.Text)+"%") + ")"
	case filter.KindConsent:
		col := "c.phone"
		if n.Channel == "email" {
			col = "c.email"
		}
		optedOut := "EXISTS (SELECT 1 FROM consent k WHERE k.channel = " + a.arg(n.Channel) +
			" AND k.address = " + col + " AND k.status = 'opted_out')"
		if n.Status == filter.StatusOptedOut {
			return "(" + col + " IS NOT NULL AND " + optedOut + ")"
		}
		return "(" + col + " IS NOT NULL AND NOT " + optedOut + ")"
	case filter.KindRating:
		cmp := "="
		switch n.Op {
		case filter.OpLte:
			cmp = "<="
		case filter.OpGte:
			cmp = ">="
		}
		// cmp comes from the fixed list above; the level is a parameter.
		return "(c.rating IS NOT NULL AND c.rating " + cmp + " " + a.arg(n.Rating) + "::smallint)"
	case filter.KindUnassessed:
		return "(c.rating IS NULL)"
	case filter.KindField:
		expr, nullable := fieldExpr(n.Field, a)
		guard := ""
		if nullable {
			guard = expr + " IS NOT NULL AND "
		}
		switch n.Op {
		case filter.OpIn:
			return "(" + guard + "lower(" + expr + ") = ANY (ARRAY(SELECT lower(v) FROM unnest(" + a.arg(n.Values) + "::text[]) AS v)))"
		case filter.OpPrefix:
			return "(" + guard + "lower(" + expr + ") LIKE (lower(" + a.arg(escapeLike(n.Values[0])) + ") || '%'))"
		default:
			if n.Values[0] == "" {
				return "(coalesce(" + expr + ", '') = '')"
			}
			return "(" + guard + "lower(" + expr + ") = lower(" + a.arg(n.Values[0]) + "))"
		}
	}
	return "FALSE" // unknown kinds match nobody; Parse never makes them
}

// fieldExpr is the SQL for a field and whether it can be NULL.
func fieldExpr(f filter.Field, a *sqlArgs) (string, bool) {
	if f.Column != "" {
		// f.Column comes from filter's fixed list of column names.
		return "c." + f.Column, nullableColumn(f.Column)
	}
	if indexedAttribute(f.Attribute) {
		return "(c.attributes ->> '" + f.Attribute + "')", true
	}
	return "(c.attributes ->> " + a.arg(f.Attribute) + "::text)", true
}

// escapeLike makes s match itself in a LIKE pattern.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
