package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// rateRequest is one rating, or (with ids or filter) many. By names who
// rated: the console sends the signed-in organizer.
type rateRequest struct {
	Rating int              `json:"rating"`
	By     string           `json:"by"`
	Note   string           `json:"note"`
	IDs    []string         `json:"ids"`
	Filter *json.RawMessage `json:"filter"`
}

// rate records one member's support rating (PUT /contacts/{id}/rating).
func (h *Handler) rate(w http.ResponseWriter, r *http.Request) {
	var req rateRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if req.IDs != nil || req.Filter != nil {
		web.WriteError(w, r, h.log, apperr.Invalid("ids", "rate many through POST /contacts/ratings"))
		return
	}
	out, err := h.store.Rate(r.Context(), chi.URLParam(r, "id"), req.Rating, req.By, req.Note)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// rateMany gives the members named by ids, or everyone a filter selects
// ({"all": []} is everyone, said outright), the same rating.
func (h *Handler) rateMany(w http.ResponseWriter, r *http.Request) {
	var req rateRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	var n *filter.Node
	if req.Filter != nil {
		node, err := filter.Parse(*req.Filter)
		if err != nil {
			web.WriteError(w, r, h.log, err)
			return
		}
		n = &node
	}
	ids, err := h.store.RateMany(r.Context(), n, req.IDs, req.Rating, req.By, req.Note)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"rated": len(ids), "ids": ids, "rating": req.Rating, "label": contact.RatingLabel(req.Rating)})
}

// ratings is a member's rating history, newest first.
func (h *Handler) ratings(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	list, err := h.store.Ratings(r.Context(), chi.URLParam(r, "id"), limit)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []contact.Rating{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"ratings": list})
}

// chart is the chart-the-workplace view: by (comma-separated, default
// worksite,shift) over the members the list filters select.
func (h *Handler) chart(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := queryFilter(q)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	var by []string
	if v := strings.TrimSpace(q.Get("by")); v != "" {
		by = strings.Split(v, ",")
	}
	c, err := h.store.Chart(r.Context(), n, by)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

// ratingQuery reads the list filters on ratings: rating (a level, or
// "unassessed"), rating_max and rating_min (1 to 5).
func ratingQuery(q map[string][]string, add func(any) error) error {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	level := func(k, op string) error {
		v := get(k)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || contact.CheckRating(n) != nil {
			return apperr.Invalid(k, "want a support level from 1 (leader) to 5 (opposed), got %q", v)
		}
		return add(map[string]any{"rating": map[string]any{"op": op, "value": n}})
	}
	if get("rating") == "unassessed" {
		return add(map[string]any{"unassessed": true})
	}
	if err := level("rating", "eq"); err != nil {
		return err
	}
	if err := level("rating_max", "lte"); err != nil {
		return err
	}
	return level("rating_min", "gte")
}
