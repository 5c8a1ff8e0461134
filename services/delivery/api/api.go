// Package api is delivery's API for operators and the console: the
// message log, the suppression list and the dead letters.
package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/settings"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/orgsettings"
	"github.com/musterhq/muster/shared/web"
)

// Handler serves the API.
type Handler struct {
	store    *store.Store
	js       jetstream.JetStream
	settings *settings.Source
	log      *zap.Logger
}

// New builds the handler; js republishes retried dead letters.
func New(st *store.Store, js jetstream.JetStream, src *settings.Source, log *zap.Logger) *Handler {
	return &Handler{store: st, js: js, settings: src, log: log}
}

// Routes mounts the API on r.
func (h *Handler) Routes(r chi.Router) {
	r.Get("/messages", h.list)
	r.Get("/messages/{id}", h.get)
	r.Get("/suppressions", h.suppressions)
	r.Get("/conversations/{channel}/{address}", h.conversation)
	r.Get("/dead-letters", h.deadLetters)
	r.Get("/settings", h.getSettings)
	r.Put("/settings", h.putSettings)
	r.Post("/dead-letters/{id}/retry", h.retryDeadLetter)
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	list, next, err := h.store.List(r.Context(), store.ListQuery{
		CampaignID: q.Get("campaign_id"), To: q.Get("to"), Status: q.Get("status"), After: q.Get("after"), Limit: limit,
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

// suppressions lists the suppression list, newest first, searched with
// q (text in the address), a page of limit after the position after (the
// next of the page before); next is empty on the last page.
func (h *Handler) suppressions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	// ILIKE wildcards in the search are taken literally.
	search := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.TrimSpace(q.Get("q")))
	list, next, err := h.store.Suppressions(r.Context(), search, q.Get("after"), limit)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []store.Suppression{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"suppressions": list, "next": next})
}

// conversation shows a member's thread: what they were sent and what
// they answered, for the inbox and the contact page.
func (h *Handler) conversation(w http.ResponseWriter, r *http.Request) {
	ch := events.Channel(chi.URLParam(r, "channel"))
	if !ch.Valid() {
		web.WriteError(w, r, h.log, apperr.Invalid("channel", "want sms or email"))
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	turns, err := h.store.Conversation(r.Context(), string(ch), chi.URLParam(r, "address"), limit)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if turns == nil {
		turns = []store.Turn{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"turns": turns})
}

func (h *Handler) getSettings(w http.ResponseWriter, _ *http.Request) {
	web.WriteJSON(w, http.StatusOK, h.settings.Current().Document)
}

// putSettings replaces the organization's settings; every field is
// required, so a form that forgot one cannot blank it.
func (h *Handler) putSettings(w http.ResponseWriter, r *http.Request) {
	// A field the request leaves out keeps its current value, so a client
	// that predates a setting (the Spanish replies) cannot blank it.
	req := orgsettings.Change{Settings: h.settings.Current().Settings}
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	cur, err := h.settings.Save(r.Context(), req.Settings, req.UpdatedBy)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	h.log.Info("settings changed", zap.String("by", req.UpdatedBy))
	web.WriteJSON(w, http.StatusOK, cur.Document)
}
