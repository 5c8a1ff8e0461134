// Package api is the campaigns service's HTTP edge.
package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/web"
)

// Launcher starts fan-outs; the fan-out runner is one.
type Launcher interface{ Wake() }

// Handler serves the campaigns API.
type Handler struct {
	store  *store.Store
	launch Launcher
	log    *zap.Logger
}

// New builds the handler.
func New(st *store.Store, l Launcher, log *zap.Logger) *Handler {
	return &Handler{store: st, launch: l, log: log}
}

// Routes mounts the API.
func (h *Handler) Routes() http.Handler {
	r := chi.NewRouter()
	r.Post("/campaigns", h.create)
	r.Get("/campaigns", h.list)
	r.Get("/campaigns/{id}", h.get)
	r.Post("/campaigns/{id}/launch", h.launchCampaign)
	r.Get("/campaigns/{id}/results", h.results)
	return r
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var d campaign.Draft
	if err := web.DecodeJSON(r, &d); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	c, err := d.Validate()
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

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.List(r.Context(), 100)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []campaign.Campaign{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": list})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

// launchCampaign starts a fan-out: 202 the first time, 200 with the
// campaign as it stands for any repeat (a double click sends nothing
// twice).
func (h *Handler) launchCampaign(w http.ResponseWriter, r *http.Request) {
	c, started, err := h.store.Launch(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if !started {
		web.WriteJSON(w, http.StatusOK, map[string]any{"campaign": c, "already_launched": true})
		return
	}
	h.launch.Wake()
	h.log.Info("campaign launched", zap.String("campaign_id", c.ID), zap.String("tag", c.Audience.Tag))
	web.WriteJSON(w, http.StatusAccepted, map[string]any{"campaign": c, "already_launched": false})
}

func (h *Handler) results(w http.ResponseWriter, r *http.Request) {
	res, err := h.store.Results(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}
