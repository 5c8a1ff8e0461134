package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/musterhq/muster/services/console/plain"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The audience builder: rows of conditions (has tag, lacks tag, worksite,
// shift, language, any attribute), each optionally negated, joined by all
// or any. The form is plain fields so it works without JavaScript:
//
//	aud_match=all|any
//	aud_kind_N, aud_attr_N, aud_value_N, aud_not_N   (N = 0, 1, …)
//
// It becomes contacts' filter language ({"all": [...]}, {"tag": ...},
// {"field": ..., "op": "eq", "value": ...}, {"not": ...}). A single
// "has tag" row is sent to campaigns as a tag audience, the form
// campaigns and the editor have always known; anything more as a filter.

// Condition kinds of a builder row.
const (
	condTag      = "tag"
	condNoTag    = "no_tag"
	condWorksite = "worksite"
	condShift    = "shift"
	condLanguage = "language"
	condAttr     = "attr"
	// The support conditions read the latest rating (contacts'
	// {"rating": ...} and {"unassessed": true}).
	condSupportIs  = "support_is"
	condSupportMax = "support_max"
	condSupportMin = "support_min"
	condUnassessed = "unassessed"
)

// maxAudienceRows is how many conditions the builder takes; the filter
// language allows more, but a person composing reads a dozen at most.
const maxAudienceRows = 12

// Limits the builder checks itself, so an organizer reads which row is
// wrong rather than contacts' path into the filter.
const (
	maxAudienceTag   = 100 // contacts' longest tag
	maxAudienceValue = 256 // contacts' longest filter value
	maxAudienceAttr  = 64
)

// audienceKind is one choice of a row's condition.
type audienceKind struct{ Value, Label string }

// audienceKinds are the conditions the builder offers, in its order.
func audienceKinds() []audienceKind {
	return []audienceKind{
		{condTag, "has tag"},
		{condNoTag, "lacks tag"},
		{condWorksite, "worksite is"},
		{condShift, "shift is"},
		{condLanguage, "language is"},
		{condAttr, "attribute equals"},
		{condSupportIs, "support rating is"},
		{condSupportMax, "support rating at most"},
		{condSupportMin, "support rating at least"},
		{condUnassessed, "not yet assessed"},
	}
}

// audienceRow is one condition as typed.
type audienceRow struct {
	Kind  string
	Attr  string
	Value string
	Not   bool
}

// blank reports a row the organizer left empty, which the builder skips.
// A "not yet assessed" row needs no value, so it is never blank.
func (r audienceRow) blank() bool { return r.Kind != condUnassessed && r.Value == "" && r.Attr == "" }

// audienceForm is the builder's fields.
type audienceForm struct {
	Match string
	Rows  []audienceRow
	// Tags are the tags in use, suggested as the organizer types (the
	// page's datalist; the script narrows them as they type).
	Tags []tagCount
	// Count is the audience's size after a submit without JavaScript;
	// CountError says why it could not be counted.
	Count      *audienceCount
	CountError string
	// ErrorField names the field a refused audience points at.
	ErrorField string
	// Extra empty rows to draw ("Add a condition" without JavaScript).
	Extra int
}

// tagCount is a tag in use and how many contacts carry it.
type tagCount struct {
	Tag   string `json:"tag"`
	Count int64  `json:"count"`
}

// audienceFormOf reads the builder's fields. A form with no builder rows
// but a tag (the editor's and the API's older form) is one "has tag" row.
func audienceFormOf(get func(string) string) audienceForm {
	f := audienceForm{Match: strings.TrimSpace(get("aud_match"))}
	for i := range maxAudienceRows {
		n := strconv.Itoa(i)
		r := audienceRow{
			Kind: strings.TrimSpace(get("aud_kind_" + n)), Attr: strings.TrimSpace(get("aud_attr_" + n)),
			Value: strings.TrimSpace(get("aud_value_" + n)), Not: get("aud_not_"+n) != "",
		}
		if r.Kind == "" && r.blank() {
			continue
		}
		if r.Kind == "" {
			r.Kind = condTag
		}
		f.Rows = append(f.Rows, r)
	}
	if len(f.Rows) == 0 {
		if t := strings.TrimSpace(get("tag")); t != "" {
			f.Rows = []audienceRow{{Kind: condTag, Value: t}}
		}
	}
	if f.Match == "" {
		f.Match = "all"
	}
	return f
}

// filled are the rows the organizer filled in.
func (f audienceForm) filled() []audienceRow {
	var out []audienceRow
	for _, r := range f.Rows {
		if !r.blank() {
			out = append(out, r)
		}
	}
	return out
}

// Shown are the rows the page draws: those typed, then one empty row to
// add a condition (more with "Add a condition", without JavaScript).
func (f audienceForm) Shown() []audienceRow {
	rows := append([]audienceRow(nil), f.filled()...)
	for range 1 + f.Extra {
		if len(rows) < maxAudienceRows {
			rows = append(rows, audienceRow{Kind: condTag})
		}
	}
	return rows
}

// Invalid reports whether the input named field is the one to fix.
func (f audienceForm) Invalid(field string) bool { return f.ErrorField == field }

// Kinds are the conditions a row offers.
func (audienceForm) Kinds() []audienceKind { return audienceKinds() }

// Max is how many rows the builder takes.
func (audienceForm) Max() int { return maxAudienceRows }

// invalidRow is a refused row: the message names the row by its number
// as the page shows it, the field is the input to fix.
func invalidRow(i int, field, format string, args ...any) error {
	return apperr.Invalid(fmt.Sprintf("aud_%s_%d", field, i), "condition %d: %s", i+1, fmt.Sprintf(format, args...))
}

// condition is one row in contacts' filter language.
func (r audienceRow) condition(i int) (map[string]any, error) {
	if len(r.Value) > maxAudienceValue {
		return nil, invalidRow(i, "value", "is longer than %d characters", maxAudienceValue)
	}
	var c map[string]any
	field := func(name, what string) (map[string]any, error) {
		if r.Value == "" {
			return nil, invalidRow(i, "value", "say which %s", what)
		}
		return map[string]any{"field": name, "op": "eq", "value": r.Value}, nil
	}
	var err error
	switch r.Kind {
	case condTag, condNoTag:
		switch {
		case r.Value == "":
			return nil, invalidRow(i, "value", "name the tag")
		case len(r.Value) > maxAudienceTag:
			return nil, invalidRow(i, "value", "a tag is at most %d characters", maxAudienceTag)
		}
		c = map[string]any{"tag": r.Value}
		if r.Kind == condNoTag {
			c = map[string]any{"not": c}
		}
	case condWorksite:
		c, err = field("worksite", "worksite")
	case condShift:
		c, err = field("shift", "shift")
	case condLanguage:
		c, err = field("language", "language, such as es or en")
	case condSupportIs, condSupportMax, condSupportMin:
		level, err := parseLevel("", strings.TrimSpace(strings.SplitN(r.Value, "·", 2)[0]))
		if err != nil {
			return nil, invalidRow(i, "value", "say a support level from 1 (leader) to 5 (opposed)")
		}
		op := map[string]string{condSupportIs: "eq", condSupportMax: "lte", condSupportMin: "gte"}[r.Kind]
		c = map[string]any{"rating": map[string]any{"op": op, "value": level}}
	case condUnassessed:
		c = map[string]any{"unassessed": true}
	case condAttr:
		if err := checkAttrName(r.Attr); err != nil {
			return nil, invalidRow(i, "attr", "%v", err)
		}
		c, err = field(r.Attr, "value "+r.Attr+" must equal")
	default:
		return nil, invalidRow(i, "kind", "%q is not a condition the builder knows; choose one from the list", r.Kind)
	}
	if err != nil {
		return nil, err
	}
	if r.Not {
		c = map[string]any{"not": c}
	}
	return c, nil
}

// checkAttrName refuses an attribute name contacts could not read as one:
// it needs a letter or digit and stays short.
func checkAttrName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name the attribute, such as unit or department")
	case len(name) > maxAudienceAttr:
		return fmt.Errorf("an attribute name is at most %d characters", maxAudienceAttr)
	case !strings.ContainsFunc(name, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }):
		return fmt.Errorf("%q is not an attribute name: use letters or digits", name)
	}
	return nil
}

// filter is the audience in contacts' filter language. No condition at
// all is refused: sending to everyone is not something to do by leaving
// the builder empty.
func (f audienceForm) filter() (map[string]any, error) {
	if f.Match != "all" && f.Match != "any" {
		return nil, apperr.Invalid("aud_match", "choose whether members must match all the conditions or any of them")
	}
	rows := f.filled()
	if len(rows) == 0 {
		return nil, apperr.Invalid("aud_value_0", "add at least one condition, such as has tag nights")
	}
	var conds []any
	for i, r := range rows {
		c, err := r.condition(i)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
	}
	if len(conds) == 1 {
		return conds[0].(map[string]any), nil
	}
	return map[string]any{f.Match: conds}, nil
}

// campaignAudience is the audience as campaigns stores it: a tag when the
// builder holds a single "has tag" row, otherwise the filter.
func (f audienceForm) campaignAudience() (map[string]any, error) {
	flt, err := f.filter()
	if err != nil {
		return nil, err
	}
	if t, ok := flt["tag"].(string); ok && len(flt) == 1 {
		return map[string]any{"tag": t}, nil
	}
	return map[string]any{"filter": flt}, nil
}

// countFilter sizes an audience given in contacts' filter language.
func (s *Server) countFilter(ctx context.Context, flt any) (audienceCount, error) {
	var out struct {
		Total       int64        `json:"total"`
		Reachable   int64        `json:"reachable"`
		Unreachable int64        `json:"unreachable"`
		SMS         channelCount `json:"sms"`
		Email       channelCount `json:"email"`
	}
	req := map[string]any{"filter": flt, "channel": "sms"}
	if err := s.Services.Contacts.JSON(ctx, http.MethodPost, "/audiences/count", req, &out); err != nil {
		return audienceCount{}, err
	}
	return audienceCount{Total: out.Total, Reachable: out.Reachable, Excluded: out.Unreachable, SMS: out.SMS, Email: out.Email}, nil
}

// countAudienceForm counts the builder's audience for a page drawn
// without JavaScript; a refused audience or a failed count is said on
// the form, never an error page.
func (s *Server) countAudienceForm(ctx context.Context, f *audienceForm) {
	flt, err := f.filter()
	if err == nil {
		var n audienceCount
		if n, err = s.countFilter(ctx, flt); err == nil {
			f.Count = &n
			return
		}
	}
	if apperr.KindOf(err) == apperr.KindInvalid {
		f.CountError, f.ErrorField = err.Error(), apperr.FieldOf(err)
		return
	}
	f.CountError = "The audience could not be counted just now: " + web.BodyOf(err).Error
}

// tagsInUse are the tags to suggest; a failure only loses the
// suggestions, never the page.
func (s *Server) tagsInUse(ctx context.Context, prefix string, limit int) []tagCount {
	var out struct {
		Tags []tagCount `json:"tags"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if prefix != "" {
		q.Set("q", prefix)
	}
	if err := s.Services.Contacts.JSON(ctx, http.MethodGet, "/tags?"+q.Encode(), nil, &out); err != nil {
		return nil
	}
	return out.Tags
}

// audienceCount answers the builder's live count: the builder's fields
// (or a tag, as the editor sends) in the query. An audience still being
// typed is a 400 in the JSON error shape, naming the condition to fix.
func (s *Server) audienceCount(w http.ResponseWriter, r *http.Request) {
	f := audienceFormOf(r.URL.Query().Get)
	if len(f.filled()) == 0 {
		web.WriteJSON(w, http.StatusOK, audienceCount{})
		return
	}
	flt, err := f.filter()
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	n, err := s.countFilter(r.Context(), flt)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, n)
}

// apiTags lists the tags in use with their counts (contacts' GET /tags).
func (s *Server) apiTags(w http.ResponseWriter, r *http.Request) {
	q := url.Values{}
	for _, k := range []string{"q", "limit"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, "/tags?"+q.Encode(), nil)
}

// storedAudience is a campaign's audience as campaigns keeps it: a tag,
// a filter, or both (both must hold).
type storedAudience struct {
	Tag    string          `json:"tag"`
	Filter json.RawMessage `json:"filter"`
}

// Words says who the audience is: "tagged rally", "tagged nights,
// worksite is Mercy and not tagged steward".
func (a storedAudience) Words() string { return audienceWords(a.Tag, a.Filter) }

// audienceWords says a stored audience in words: "tagged nights", or a
// filter such as "tagged nights, worksite is Mercy and not tagged
// steward". A filter the builder cannot write is shown as it is.
func audienceWords(tag string, raw json.RawMessage) string {
	var parts []string
	if tag != "" {
		parts = append(parts, "tagged "+tag)
	}
	if len(raw) > 0 && string(raw) != "null" {
		var n any
		if err := json.Unmarshal(raw, &n); err != nil {
			parts = append(parts, string(raw))
		} else {
			parts = append(parts, filterWords(n))
		}
	}
	return strings.Join(parts, " and ")
}

func filterWords(n any) string {
	m, ok := n.(map[string]any)
	if !ok {
		b, _ := json.Marshal(n)
		return string(b)
	}
	str := func(v any) string { s, _ := v.(string); return s }
	if t, ok := m["tag"]; ok {
		return "tagged " + str(t)
	}
	if c, ok := m["not"]; ok {
		if cm, ok := c.(map[string]any); ok {
			if t, ok := cm["tag"]; ok {
				return "not tagged " + str(t)
			}
			if f, ok := cm["field"]; ok && (cm["op"] == nil || cm["op"] == "eq") {
				return strings.ReplaceAll(str(f), "_", " ") + " is not " + str(cm["value"])
			}
		}
		return "not (" + filterWords(c) + ")"
	}
	if f, ok := m["field"]; ok && (m["op"] == nil || m["op"] == "eq") {
		return strings.ReplaceAll(str(f), "_", " ") + " is " + str(m["value"])
	}
	if kind, level, ok := supportOfCondition(m); ok {
		if kind == condUnassessed {
			return "not yet assessed"
		}
		return map[string]string{condSupportIs: "support is ", condSupportMax: "support at most ", condSupportMin: "support at least "}[kind] + plain.SupportLevel(level)
	}
	for _, k := range []string{"all", "any"} {
		list, ok := m[k].([]any)
		if !ok {
			continue
		}
		if len(list) == 0 {
			return "everyone"
		}
		words := make([]string, len(list))
		for i, c := range list {
			words[i] = filterWords(c)
		}
		join := " and "
		if k == "any" {
			join = " or "
		}
		if len(words) == 1 {
			return words[0]
		}
		return strings.Join(words[:len(words)-1], ", ") + join + words[len(words)-1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// audienceStep handles the builder's own buttons on a page without
// JavaScript: "Count" and "Add a condition" draw the form again, with the
// count or one more row, and save nothing. It reports whether it did.
func (s *Server) audienceStep(w http.ResponseWriter, r *http.Request, f *composeForm) bool {
	count, add := r.PostFormValue("aud_count") != "", r.PostFormValue("aud_add") != ""
	if !count && !add {
		return false
	}
	if add {
		f.Audience.Extra = 1
	}
	if len(f.Audience.filled()) > 0 {
		s.countAudienceForm(r.Context(), &f.Audience)
	}
	f.Audience.Tags = s.tagsInUse(r.Context(), "", 50)
	s.render(w, r, http.StatusOK, "compose", "New campaign", composeView{Form: *f})
	return true
}

// Words says an audience's size as the builder shows it.
func (a audienceCount) Words() string {
	who := fmt.Sprintf("%d members match", a.Total)
	if a.Total == 1 {
		who = "1 member matches"
	}
	return who + fmt.Sprintf(": %d can be texted, %d can be emailed.", a.SMS.Reachable, a.Email.Reachable)
}

// audienceFormOfStored is the builder holding a stored audience, for an
// editor that changes a draft's audience: ok is false when the audience
// is not one the builder writes (a filter made through the API), which an
// editor should then show in words rather than lose.
func audienceFormOfStored(a storedAudience) (f audienceForm, ok bool) {
	f.Match = "all"
	if a.Tag != "" {
		f.Rows = append(f.Rows, audienceRow{Kind: condTag, Value: a.Tag})
	}
	if len(a.Filter) == 0 || string(a.Filter) == "null" {
		return f, len(f.Rows) > 0
	}
	var n map[string]any
	if err := json.Unmarshal(a.Filter, &n); err != nil {
		return audienceForm{}, false
	}
	conds := []any{n}
	for _, k := range []string{"all", "any"} {
		if list, isList := n[k].([]any); isList && len(n) == 1 {
			if k == "any" && a.Tag != "" {
				return audienceForm{}, false // a tag and any-of: not one level of conditions
			}
			f.Match, conds = k, list
		}
	}
	for _, c := range conds {
		r, ok := rowOfCondition(c)
		if !ok || len(f.Rows) >= maxAudienceRows {
			return audienceForm{}, false
		}
		f.Rows = append(f.Rows, r)
	}
	return f, len(f.Rows) > 0
}

// rowOfCondition reads one condition the builder writes back into a row.
func rowOfCondition(c any) (audienceRow, bool) {
	m, ok := c.(map[string]any)
	if !ok || len(m) == 0 {
		return audienceRow{}, false
	}
	if inner, isNot := m["not"]; isNot && len(m) == 1 {
		r, ok := rowOfCondition(inner)
		if !ok || r.Not {
			return audienceRow{}, false
		}
		if r.Kind == condTag {
			r.Kind = condNoTag
			return r, true
		}
		r.Not = true
		return r, true
	}
	if t, isTag := m["tag"].(string); isTag && len(m) == 1 {
		return audienceRow{Kind: condTag, Value: t}, true
	}
	if kind, level, ok := supportOfCondition(m); ok {
		r := audienceRow{Kind: kind}
		if kind != condUnassessed {
			r.Value = strconv.Itoa(level)
		}
		return r, true
	}
	name, _ := m["field"].(string)
	value, isString := m["value"].(string)
	if op, _ := m["op"].(string); name == "" || !isString || (op != "" && op != "eq") {
		return audienceRow{}, false
	}
	switch name {
	case condWorksite, condShift, condLanguage:
		return audienceRow{Kind: name, Value: value}, true
	}
	return audienceRow{Kind: condAttr, Attr: name, Value: value}, true
}

// supportOfCondition reads a support condition the builder writes:
// {"rating": {"op", "value"}} or {"unassessed": true}.
func supportOfCondition(m map[string]any) (kind string, level int, ok bool) {
	if len(m) != 1 {
		return "", 0, false
	}
	if yes, isBool := m["unassessed"].(bool); isBool && yes {
		return condUnassessed, 0, true
	}
	r, isMap := m["rating"].(map[string]any)
	if !isMap {
		return "", 0, false
	}
	v, isNum := r["value"].(float64)
	op, _ := r["op"].(string)
	kind = map[string]string{"": condSupportIs, "eq": condSupportIs, "lte": condSupportMax, "gte": condSupportMin}[op]
	if !isNum || kind == "" || v != float64(int(v)) || v < 1 || v > 5 {
		return "", 0, false
	}
	return kind, int(v), true
}
