// Package api is the contacts service's HTTP edge: it decodes requests,
// calls the store and the importer, and maps errors to status codes
// through package web.
package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/importer"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

// Deps are what the API calls.
type Deps struct {
	Store   *store.Store
	Imports *importer.Runner
	// ConsentQueued is called after a consent event was committed to the
	// outbox, so the relay publishes it at once.
	ConsentQueued func()
	// Region reads phone numbers typed without a country code.
	Region string
	Log    *zap.Logger
}

// Handler serves the contacts API.
type Handler struct {
	store   *store.Store
	imports *importer.Runner
	queued  func()
	region  string
	log     *zap.Logger
}

// New builds the handler.
func New(d Deps) *Handler {
	queued := d.ConsentQueued
	if queued == nil {
		queued = func() {}
	}
	return &Handler{store: d.Store, imports: d.Imports, queued: queued, region: d.Region, log: d.Log}
}

// Routes mounts the API.
func (h *Handler) Routes() chi.Router {
	r := chi.NewRouter()
	r.Post("/contacts", h.create)
	r.Get("/contacts", h.list)
	r.Get("/contacts/export.csv", h.export)
	r.Post("/contacts/tags", h.bulkTags)
	r.Post("/contacts/assign", h.assignMany)
	r.Post("/contacts/rebalance", h.rebalance)
	r.Put("/contacts/{id}/assignee", h.assignOne)
	r.Get("/contacts/{id}/assignments", h.assignments)
	r.Post("/contacts/ratings", h.rateMany)
	r.Get("/contacts/{id}", h.get)
	r.Patch("/contacts/{id}", h.patch)
	r.Post("/contacts/{id}/merge", h.merge)
	r.Get("/contacts/{id}/consent", h.consent)
	r.Post("/contacts/{id}/opt-out", h.optOut)
	r.Post("/contacts/{id}/opt-in", h.optIn)
	r.Post("/contacts/{id}/erase", h.erase)
	r.Put("/contacts/{id}/rating", h.rate)
	r.Get("/contacts/{id}/ratings", h.ratings)
	r.Get("/chart", h.chart)
	r.Get("/consent/export.csv", h.exportConsent)
	r.Post("/audiences/count", h.count)
	r.Get("/tags", h.tags)
	r.Post("/imports", h.createImport)
	r.Get("/imports/{id}", h.getImport)
	r.Get("/imports/{id}/errors.csv", h.importReport(store.IssueRejected))
	r.Get("/imports/{id}/merges.csv", h.importReport(store.IssueMerged))
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
	c, err = h.store.Create(r.Context(), c, "created through the contacts API by "+svcauth.Caller(r.Context()))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, c)
}

// contactWithRhythm is a contact as GET /contacts/{id} shows it: its
// fields and the member's own rhythm beside them.
type contactWithRhythm struct {
	contact.Contact
	Rhythm rhythmView `json:"rhythm"`
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	rh, err := h.rhythmOf(r, c)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, contactWithRhythm{Contact: c, Rhythm: rh})
}

// patch edits some fields of a contact. It never touches consent: that
// follows the phone number or email, whoever holds it.
func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	var p contact.Patch
	if err := web.DecodeJSON(r, &p); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	c, err := h.store.Update(r.Context(), chi.URLParam(r, "id"), p, h.region)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

type mergeRequest struct {
	// From is the contact folded into the one in the path, then deleted.
	From string `json:"from"`
}

func (h *Handler) merge(w http.ResponseWriter, r *http.Request) {
	var req mergeRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if req.From == "" {
		web.WriteError(w, r, h.log, apperr.Invalid("from", "name the contact to merge into this one"))
		return
	}
	c, err := h.store.Merge(r.Context(), chi.URLParam(r, "id"), req.From)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}
