// Package api is the contacts service's HTTP edge: it decodes requests,
// calls the store, and maps errors to status codes through package web.
package api

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/web"
)

// Handler serves the contacts API.
type Handler struct {
	store  *store.Store
	region string
	log    *zap.Logger
}

// New builds the handler. region is the default region for phone numbers
// typed without a country code.
func New(s *store.Store, region string, log *zap.Logger) *Handler {
	return &Handler{store: s, region: region, log: log}
}

// Routes mounts the API.
func (h *Handler) Routes() http.Handler {
	r := chi.NewRouter()
	r.Post("/contacts", h.create)
	r.Get("/contacts", h.list)
	r.Get("/contacts/{id}", h.get)
	r.Get("/contacts/{id}/consent", h.consent)
	return r
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var d contact.Draft
	if err := web.DecodeJSON(r, &d); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	c, err := d.Normalize(h.region)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	c, err = h.store.Create(r.Context(), c)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, c)
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

type listResponse struct {
	Contacts []contact.Contact `json:"contacts"`
	Next     string            `json:"next,omitempty"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, next, err := h.store.List(r.Context(), store.ListQuery{Tag: q.Get("tag"), After: q.Get("after"), Limit: limit})
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, listResponse{Contacts: list, Next: next})
}

func (h *Handler) consent(w http.ResponseWriter, r *http.Request) {
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	history, err := h.store.ConsentHistory(r.Context(), c)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"contact_id": c.ID, "history": history})
}
