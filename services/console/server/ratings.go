package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/plain"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Assessments: organizers rate each member's support on the union's 1-5
// scale (1 leader … 5 opposed, plain.SupportLevel), one at a time on the
// member's page or many at once from the contacts list; contacts keeps
// every rating and the latest on the contact. The chart-the-workplace
// page counts members per worksite and shift at each level.

// rating is one support rating as contacts returns it.
type rating struct {
	Rating  int    `json:"rating"`
	Label   string `json:"label"`
	RatedBy string `json:"rated_by"`
	Note    string `json:"note"`
	RatedAt string `json:"rated_at"`
}

// maxRatingNote is contacts' longest note on a rating.
const maxRatingNote = 500

// parseLevel reads a support level typed in a form or sent in JSON.
func parseLevel(field, v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 5 {
		return 0, apperr.Invalid(field, "choose a support level from 1 (leader) to 5 (opposed)")
	}
	return n, nil
}

// supportQuery turns the contacts list's support choice into contacts'
// list filters: a level ("1" … "5"), at most ("max2"), at least ("min4")
// or "unassessed".
func supportQuery(v string) (url.Values, error) {
	q := url.Values{}
	switch {
	case v == "":
	case v == "unassessed":
		q.Set("rating", "unassessed")
	case strings.HasPrefix(v, "max"), strings.HasPrefix(v, "min"):
		n, err := parseLevel("support", v[3:])
		if err != nil {
			return nil, err
		}
		q.Set("rating_"+v[:3], strconv.Itoa(n))
	default:
		n, err := parseLevel("support", v)
		if err != nil {
			return nil, err
		}
		q.Set("rating", strconv.Itoa(n))
	}
	return q, nil
}

// supportFilter is the same choice in contacts' filter language.
func supportFilter(v string) (map[string]any, error) {
	switch {
	case v == "unassessed":
		return map[string]any{"unassessed": true}, nil
	case strings.HasPrefix(v, "max"), strings.HasPrefix(v, "min"):
		n, err := parseLevel("support", v[3:])
		if err != nil {
			return nil, err
		}
		op := "lte"
		if v[:3] == "min" {
			op = "gte"
		}
		return map[string]any{"rating": map[string]any{"op": op, "value": n}}, nil
	}
	n, err := parseLevel("support", v)
	if err != nil {
		return nil, err
	}
	return map[string]any{"rating": map[string]any{"op": "eq", "value": n}}, nil
}

// supportChoice is one choice of the list's support filter.
type supportChoice struct{ Value, Label string }

// supportChoices are the support filter's choices, in words.
func supportChoices() []supportChoice {
	out := []supportChoice{{"", "any"}}
	for n := 1; n <= 5; n++ {
		out = append(out, supportChoice{strconv.Itoa(n), plain.SupportLevel(n)})
	}
	return append(out,
		supportChoice{"max2", "at most 2 (leaders and supporters)"},
		supportChoice{"min4", "at least 4 (leaning against or opposed)"},
		supportChoice{"unassessed", "not yet assessed"})
}

// supportLevels are the five levels, for the rating forms.
func supportLevels() []supportChoice {
	var out []supportChoice
	for n := 1; n <= 5; n++ {
		out = append(out, supportChoice{strconv.Itoa(n), plain.SupportLevel(n)})
	}
	return out
}

// rateContact records an organizer's rating of one member from the
// member's page. Who rated is the signed-in organizer.
func (s *Server) rateContact(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	note := strings.TrimSpace(r.PostFormValue("note"))
	level, err := parseLevel("rating", r.PostFormValue("rating"))
	if err == nil && len(note) > maxRatingNote {
		err = apperr.Invalid("note", "a note is at most %d characters", maxRatingNote)
	}
	if err == nil {
		body := map[string]any{"rating": level, "by": principalOf(r).Label, "note": note}
		err = s.Services.Contacts.JSON(r.Context(), http.MethodPut, "/contacts/"+url.PathEscape(id)+"/rating", body, nil)
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderContact(w, r, http.StatusBadRequest, contactNotes{RatingError: err.Error(), RatingNote: note})
			return
		}
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "contact.rate", "contact "+id, "rated "+plain.SupportLevel(level))
	http.Redirect(w, r, "/contacts/"+url.PathEscape(id)+"?done=rated&rating="+strconv.Itoa(level), http.StatusSeeOther)
}

// bulkRate gives the members selected on the contacts list, or everyone
// the list's filter selects, the same rating.
func (s *Server) bulkRate(w http.ResponseWriter, r *http.Request) {
	form := url.Values{}
	for _, k := range []string{"q", "tag", "sms_consent", "support"} {
		form.Set(k, r.PostFormValue(k))
	}
	level, err := parseLevel("rating", r.PostFormValue("rating"))
	body := map[string]any{"rating": level, "by": principalOf(r).Label}
	scope := r.PostFormValue("scope")
	if err == nil {
		switch scope {
		case "selected":
			ids := r.PostForm["id"]
			if len(ids) == 0 {
				err = apperr.Invalid("id", "Tick the members to rate first, or choose everyone the filter selects.")
			}
			body["ids"] = ids
		case "filter":
			var flt map[string]any
			if flt, err = listFilter(form); err == nil {
				body["filter"] = flt
			}
		default:
			err = apperr.Invalid("scope", "choose the ticked members or everyone the filter selects")
		}
	}
	var out struct {
		Rated int `json:"rated"`
	}
	if err == nil {
		err = s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/ratings", body, &out)
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderContacts(w, r, http.StatusBadRequest, form, "", err.Error())
			return
		}
		s.failErr(w, r, err)
		return
	}
	target := fmt.Sprintf("%d selected contacts", out.Rated)
	if scope == "filter" {
		flt, _ := json.Marshal(body["filter"])
		target = "contacts matching " + clip(string(flt), 200)
	}
	s.audit(r, principalOf(r), "contacts.rate", target, fmt.Sprintf("rated %s on %d contacts", plain.SupportLevel(level), out.Rated))
	s.renderContacts(w, r, http.StatusOK, form, fmt.Sprintf("Rated %d members %s.", out.Rated, plain.SupportLevel(level)), "")
}

// listFilter is the contacts list's filter (name, tag, text consent,
// support) in contacts' filter language. An empty filter is refused:
// rating everyone at once is not offered from the list.
func listFilter(form url.Values) (map[string]any, error) {
	var all []any
	if q := strings.TrimSpace(form.Get("q")); q != "" {
		all = append(all, map[string]any{"text": q})
	}
	if t := strings.TrimSpace(form.Get("tag")); t != "" {
		all = append(all, map[string]any{"tag": t})
	}
	if c := form.Get("sms_consent"); c != "" {
		all = append(all, map[string]any{"consent": map[string]string{"channel": "sms", "status": c}})
	}
	if v := form.Get("support"); v != "" {
		f, err := supportFilter(v)
		if err != nil {
			return nil, err
		}
		all = append(all, f)
	}
	if len(all) == 0 {
		return nil, apperr.Invalid("scope", "Filter the list first: rating everyone at once is not offered here.")
	}
	return map[string]any{"all": all}, nil
}

// chartView is the chart-the-workplace page.
type chartView struct {
	By      string
	ByNames []string
	Options []supportChoice
	Groups  []chartGroup
	// Truncated says the lists stop short (the counts are whole).
	Truncated bool
	// Assigned is true when any member has an assignee to show.
	Assigned bool
}

type chartMember struct {
	ID        string `json:"id"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Rating    int    `json:"rating"`
	Assignee  string `json:"assignee"`
}

// Name is the member's name, or a stand-in when they have none.
func (m chartMember) Name() string {
	if n := strings.TrimSpace(m.FirstName + " " + m.LastName); n != "" {
		return n
	}
	return "(no name)"
}

type chartGroup struct {
	Keys       []string      `json:"keys"`
	Levels     [5]int64      `json:"levels"`
	Unassessed int64         `json:"unassessed"`
	Total      int64         `json:"total"`
	Members    []chartMember `json:"members"`
}

// levelRow is one level of a group as the page draws it.
type levelRow struct {
	Level   int
	Label   string
	Count   int64
	Members []chartMember
}

// Title names the group: "North Clinic · Night", "(no worksite)".
func (g chartGroup) Title(by []string) string {
	parts := make([]string, len(g.Keys))
	for i, k := range g.Keys {
		if k == "" && i < len(by) {
			k = "(no " + by[i] + ")"
		}
		parts[i] = k
	}
	return strings.Join(parts, " · ")
}

// Rows are the group's levels 1 to 5, then the unassessed.
func (g chartGroup) Rows() []levelRow {
	rows := make([]levelRow, 6)
	for i := range 5 {
		rows[i] = levelRow{Level: i + 1, Label: plain.SupportLevel(i + 1), Count: g.Levels[i]}
	}
	rows[5] = levelRow{Level: 0, Label: plain.SupportLevel(0), Count: g.Unassessed}
	for _, m := range g.Members {
		i := m.Rating - 1
		if m.Rating < 1 || m.Rating > 5 {
			i = 5
		}
		rows[i].Members = append(rows[i].Members, m)
	}
	return rows
}

// chartGroupings are the groupings the page offers.
func chartGroupings() []supportChoice {
	return []supportChoice{
		{"worksite,shift", "worksite and shift"},
		{"worksite", "worksite"},
		{"shift", "shift"},
		{"employer", "employer"},
		{"department", "department"},
	}
}

// chartPage is the chart-the-workplace page: per worksite and shift (or
// another grouping), how many members are at each level and who.
func (s *Server) chartPage(w http.ResponseWriter, r *http.Request) {
	by := r.URL.Query().Get("by")
	known := false
	for _, o := range chartGroupings() {
		known = known || o.Value == by
	}
	if !known {
		by = "worksite,shift"
	}
	var out struct {
		By        []string     `json:"by"`
		Groups    []chartGroup `json:"groups"`
		Truncated bool         `json:"truncated"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/chart?by="+url.QueryEscape(by), nil, &out); err != nil {
		s.failErr(w, r, err)
		return
	}
	v := chartView{By: by, ByNames: out.By, Options: chartGroupings(), Groups: out.Groups, Truncated: out.Truncated}
	for _, g := range out.Groups {
		for _, m := range g.Members {
			v.Assigned = v.Assigned || m.Assignee != ""
		}
	}
	s.render(w, r, http.StatusOK, "chart", "Chart the workplace", v)
}

// ratingRequest is a rating through the API; who rated is the caller,
// never a name in the body.
type ratingRequest struct {
	Rating int             `json:"rating"`
	Note   string          `json:"note"`
	IDs    []string        `json:"ids,omitempty"`
	Filter json.RawMessage `json:"filter,omitempty"`
}

// apiRateContact rates one member (PUT /api/contacts/{id}/rating).
func (s *Server) apiRateContact(w http.ResponseWriter, r *http.Request) {
	var req ratingRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	p := principalOf(r)
	body := map[string]any{"rating": req.Rating, "note": req.Note, "by": p.Label}
	var out json.RawMessage
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPut, contactPath(r, "/rating"), body, &out); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, p, "contact.rate", "contact "+chi.URLParam(r, "id"), "rated "+plain.SupportLevel(req.Rating))
	web.WriteJSON(w, http.StatusOK, out)
}

// apiRateMany rates the members named by ids, or everyone a filter
// selects, alike (POST /api/contacts/ratings).
func (s *Server) apiRateMany(w http.ResponseWriter, r *http.Request) {
	var req ratingRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	p := principalOf(r)
	body := map[string]any{"rating": req.Rating, "note": req.Note, "by": p.Label}
	target := fmt.Sprintf("%d contacts by id", len(req.IDs))
	if req.IDs != nil {
		body["ids"] = req.IDs
	}
	if len(req.Filter) > 0 {
		body["filter"] = req.Filter
		target = "contacts matching " + clip(string(req.Filter), 200)
	}
	var out struct {
		Rated int      `json:"rated"`
		IDs   []string `json:"ids"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/ratings", body, &out); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, p, "contacts.rate", target, fmt.Sprintf("rated %s on %d contacts", plain.SupportLevel(req.Rating), out.Rated))
	web.WriteJSON(w, http.StatusOK, map[string]any{"rated": out.Rated, "ids": out.IDs, "rating": req.Rating, "label": plain.SupportLevel(req.Rating)})
}

// apiRatings is a member's rating history, newest first.
func (s *Server) apiRatings(w http.ResponseWriter, r *http.Request) {
	q := url.Values{}
	if v := r.URL.Query().Get("limit"); v != "" {
		q.Set("limit", v)
	}
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, contactPath(r, "/ratings?"+q.Encode()), nil)
}

// apiChart is the chart's data: by (default worksite,shift) over the
// members contacts' list filters select.
func (s *Server) apiChart(w http.ResponseWriter, r *http.Request) {
	q := url.Values{}
	for _, k := range append([]string{"by", "rating", "rating_max", "rating_min"}, contactQuery()...) {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, "/chart?"+q.Encode(), nil)
}

// SupportChoices are the contacts list's support filter choices.
func (contactsView) SupportChoices() []supportChoice { return supportChoices() }

// Levels are the five support levels, for the bulk rating form.
func (contactsView) Levels() []supportChoice { return supportLevels() }

// Levels are the five support levels, for the member's rating form.
func (contactView) Levels() []supportChoice { return supportLevels() }
