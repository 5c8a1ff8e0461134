package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/apperr"
)

// The assignment pages: assign one member from their page, everyone a
// list filter (tag, worksite, text consent) selects from the list, and
// the assignments page (who has how many members, and rebalance).

// assignOne assigns a member from their page.
func (s *Server) assignOne(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	a, err := s.findAssignee(r.Context(), "assignee", r.PostFormValue("assignee"), true)
	if err == nil {
		_, err = s.assignOneTo(r, id, a)
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderContact(w, r, http.StatusUnprocessableEntity, contactNotes{AssignError: err.Error()})
			return
		}
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/contacts/"+url.PathEscape(id)+"?done=assigned&to="+url.QueryEscape(a.label()), http.StatusSeeOther)
}

// assignMany assigns everyone the list's filters select: a tag, a
// worksite, text consent; never a name search, never everyone unasked.
func (s *Server) assignMany(w http.ResponseWriter, r *http.Request) {
	form := url.Values{}
	for _, k := range []string{"q", "tag", "sms_consent", "worksite"} {
		form.Set(k, strings.TrimSpace(r.PostFormValue(k)))
	}
	var problem string
	switch {
	case form.Get("q") != "":
		problem = "Assigning in bulk works on a tag, worksite or text-consent filter, not a name search: clear the name first."
	case form.Get("tag") == "" && form.Get("sms_consent") == "" && form.Get("worksite") == "":
		problem = "Filter by a tag, worksite or text consent first: assigning everyone at once is not offered here."
	}
	a, err := s.findAssignee(r.Context(), "assignee", r.PostFormValue("assignee"), true)
	if problem == "" && err != nil {
		problem = err.Error()
	}
	if problem != "" {
		s.renderContacts(w, r, http.StatusUnprocessableEntity, form, "", problem)
		return
	}
	var leaves []map[string]any
	var described []string
	if t := form.Get("tag"); t != "" {
		leaves = append(leaves, map[string]any{"tag": t})
		described = append(described, "tagged "+t)
	}
	if ws := form.Get("worksite"); ws != "" {
		leaves = append(leaves, map[string]any{"field": "worksite", "op": "eq", "value": ws})
		described = append(described, "at "+ws)
	}
	if c := form.Get("sms_consent"); c != "" {
		leaves = append(leaves, map[string]any{"consent": map[string]string{"channel": "sms", "status": c}})
		described = append(described, "texts "+c)
	}
	filter, _ := json.Marshal(map[string]any{"all": leaves}) // maps of strings always encode
	n, err := s.assignFilter(r, filter, a, strings.Join(described, " "))
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderContacts(w, r, http.StatusUnprocessableEntity, form, "", err.Error())
			return
		}
		s.failErr(w, r, err)
		return
	}
	s.renderContacts(w, r, http.StatusOK, form, fmt.Sprintf("Assigned to %s: %d members changed.", a.label(), n), "")
}

// assigneeRow is one account on the assignments page.
type assigneeRow struct {
	assignee
	Members int
	// More says the count stopped at the scan's bound.
	More bool
}

type assignmentsView struct {
	Rows      []assigneeRow
	Assignees []assignee
	From      string
	To        []string
	Notice    string
	Error     string
}

func (s *Server) assignmentsPage(w http.ResponseWriter, r *http.Request) {
	v := assignmentsView{}
	if n := r.URL.Query().Get("moved"); n != "" {
		v.Notice = "Moved " + n + " members."
	}
	s.renderAssignments(w, r, http.StatusOK, v)
}

func (s *Server) renderAssignments(w http.ResponseWriter, r *http.Request, status int, v assignmentsView) {
	list, err := s.assignees(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Assignees = list
	// Disabled accounts still holding members show too: rebalancing
	// after someone leaves is what this page is for.
	all, err := s.Store.Organizers(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	for _, o := range all {
		if !o.Role.Assignable() && o.Role != "" {
			continue
		}
		members, err := s.assignedMembers(r.Context(), o.ID)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if o.Disabled && len(members) == 0 {
			continue
		}
		row := assigneeRow{assignee: assigneeFrom(o), Members: len(members), More: len(members) >= tagScanPages*500}
		if o.Disabled {
			row.Name += " (disabled)"
		}
		v.Rows = append(v.Rows, row)
	}
	s.render(w, r, status, "assignments", "Assignments", v)
}

// rebalance moves one account's members to one or several others.
func (s *Server) rebalance(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // an unreadable form chooses nobody and is refused below
	v := assignmentsView{From: r.PostFormValue("from"), To: r.PostForm["to"]}
	from, to, err := s.rebalancePlan(r.Context(), v.From, v.To)
	var n int
	if err == nil {
		n, err = s.rebalanceTo(r, from, to)
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			v.Error = err.Error()
			s.renderAssignments(w, r, http.StatusUnprocessableEntity, v)
			return
		}
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/contacts/assignments?moved="+strconv.Itoa(n), http.StatusSeeOther)
}

// saveReplyDeadline changes how long a reply may wait (an admin's form on
// the settings page, in hours).
func (s *Server) saveReplyDeadline(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimSpace(r.PostFormValue("hours"))
	hours, err := strconv.ParseFloat(raw, 64)
	if err != nil || hours <= 0 {
		s.renderSettings(w, r, http.StatusUnprocessableEntity, settingsView{DeadlineError: fmt.Sprintf("%q is not a number of hours, like 4 or 1.5.", raw), DeadlineInput: raw})
		return
	}
	within := time.Duration(hours * float64(time.Hour)).Round(time.Minute)
	p := principalOf(r)
	if err := s.Store.SetReplyDeadline(r.Context(), within, p.Label); err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderSettings(w, r, http.StatusUnprocessableEntity, settingsView{DeadlineError: "The deadline " + strings.TrimPrefix(err.Error(), "minutes: ") + ".", DeadlineInput: raw})
			return
		}
		s.failErr(w, r, err)
		return
	}
	s.audit(r, p, "settings.reply_deadline", "reply deadline", strconv.Itoa(int(within/time.Minute))+" minutes")
	http.Redirect(w, r, "/settings?saved=reply_deadline#reply-deadline", http.StatusSeeOther)
}
