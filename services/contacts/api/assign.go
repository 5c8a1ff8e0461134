package api

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Assignment: each member may have an assignee (a console account). The
// console decides who may assign and to whom, and names the account; this
// service stores the assignee and every change (contact_assignments).

type assignOneRequest struct {
	Assignee store.Assignee `json:"assignee"`
	By       string         `json:"by"`
}

// assignOne sets (or, with an empty assignee, clears) one member's
// assignee: PUT /contacts/{id}/assignee.
func (h *Handler) assignOne(w http.ResponseWriter, r *http.Request) {
	var req assignOneRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	a, err := req.Assignee.Check("assignee")
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	id := chi.URLParam(r, "id")
	if _, err := h.store.AssignOne(r.Context(), id, a, strings.TrimSpace(req.By)); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	c, err := h.store.Get(r.Context(), id)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

type assignRequest struct {
	Filter   *json.RawMessage `json:"filter"`
	Assignee store.Assignee   `json:"assignee"`
	By       string           `json:"by"`
}

// assignMany assigns every member a filter matches: POST /contacts/assign.
func (h *Handler) assignMany(w http.ResponseWriter, r *http.Request) {
	var req assignRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	n, err := requiredFilter(req.Filter)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	a, err := req.Assignee.Check("assignee")
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	changed, err := h.store.Assign(r.Context(), n, a, store.AssignBulk, strings.TrimSpace(req.By))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]int64{"changed": changed})
}

type rebalanceRequest struct {
	From string           `json:"from"`
	To   []store.Assignee `json:"to"`
	By   string           `json:"by"`
}

// rebalance moves all of one assignee's members to one or several others,
// spread evenly: POST /contacts/rebalance.
func (h *Handler) rebalance(w http.ResponseWriter, r *http.Request) {
	var req rebalanceRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	from := strings.TrimSpace(req.From)
	if from == "" {
		web.WriteError(w, r, h.log, apperr.Invalid("from", "name the assignee whose members move"))
		return
	}
	if len(req.To) == 0 || len(req.To) > 100 {
		web.WriteError(w, r, h.log, apperr.Invalid("to", "name one to 100 assignees to move the members to"))
		return
	}
	to := make([]store.Assignee, len(req.To))
	for i, a := range req.To {
		c, err := a.Check("to")
		if err != nil {
			web.WriteError(w, r, h.log, err)
			return
		}
		if c.ID == "" || c.ID == from {
			web.WriteError(w, r, h.log, apperr.Invalid("to", "each assignee must be someone other than the one they replace"))
			return
		}
		to[i] = c
	}
	counts, err := h.store.Rebalance(r.Context(), from, to, strings.TrimSpace(req.By))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	type share struct {
		ID    string `json:"id"`
		Moved int64  `json:"moved"`
	}
	out := make([]share, len(to))
	var total int64
	for i, a := range to {
		out[i] = share{ID: a.ID, Moved: counts[i]}
		total += counts[i]
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"moved": total, "to": out})
}

// assignments is a member's assignment history: GET
// /contacts/{id}/assignments.
func (h *Handler) assignments(w http.ResponseWriter, r *http.Request) {
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	list, err := h.store.Assignments(r.Context(), c.ID)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"contact_id": c.ID, "assignments": list})
}
