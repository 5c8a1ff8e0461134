// Package api is delivery's read API for operators and the console: the
// message log and the suppression list.
package api

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/web"
)

// Handler serves the API.
type Handler struct {
	store *store.Store
	log   *zap.Logger
}

// New builds the handler.
func New(st *store.Store, log *zap.Logger) *Handler { return &Handler{store: st, log: log} }

// Routes mounts the API on r.
func (h *Handler) Routes(r chi.Router) {
	r.Get("/messages", h.list)
	r.Get("/messages/{id}", h.get)
	r.Get("/suppressions", h.suppressions)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, next, err := h.store.List(r.Context(), store.ListQuery{
		CampaignID: q.Get("campaign_id"), To: q.Get("to"), After: q.Get("after"), Limit: limit,
	})
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []store.Message{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"messages": list, "next": next})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	m, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, m)
}

func (h *Handler) suppressions(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	list, err := h.store.Suppressions(r.Context(), limit)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []store.Suppression{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"suppressions": list})
}
