package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/rhythm"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// RhythmHandler serves the state rules admins edit and members' rhythm
// as delivery enforces it. Like every route but the public ones, it
// answers trusted services only (the console, for an admin).
type RhythmHandler struct {
	store  *store.Store
	states *rhythm.StateRules
	log    *zap.Logger
}

// NewRhythm builds the handler; a saved rule takes effect on this replica
// at once (states is refreshed), on others within the refresh interval.
func NewRhythm(st *store.Store, states *rhythm.StateRules, log *zap.Logger) *RhythmHandler {
	return &RhythmHandler{store: st, states: states, log: log}
}

// Routes mounts the routes on r.
func (h *RhythmHandler) Routes(r chi.Router) {
	r.Get("/state-rules", h.listStates)
	r.Put("/state-rules/{state}", h.putState)
	r.Delete("/state-rules/{state}", h.deleteState)
	r.Get("/rhythm/{address}", h.rhythm)
}

// weekdays name a rule's days in its JSON, Sunday first as time.Weekday.
var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// stateRule is a rule as the API shows and takes it: each weekday's
// window as "HH:MM-HH:MM".
type stateRule struct {
	State     string            `json:"state"`
	Windows   map[string]string `json:"windows"`
	MaxPer24h int               `json:"max_per_24h"`
	Note      string            `json:"note,omitempty"`
	UpdatedBy string            `json:"updated_by,omitempty"`
	UpdatedAt *time.Time        `json:"updated_at,omitempty"`
}

func (h *RhythmHandler) listStates(w http.ResponseWriter, r *http.Request) {
	days, err := h.store.StateRules(r.Context())
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	out := []stateRule{}
	for _, rule := range rhythm.FromDays(days) {
		sr := stateRule{State: rule.State, Windows: map[string]string{}, MaxPer24h: rule.MaxPer24h, Note: rule.Note, UpdatedBy: rule.UpdatedBy}
		at := rule.UpdatedAt
		sr.UpdatedAt = &at
		for d, win := range rule.Windows {
			sr.Windows[weekdays[d]] = win.String()
		}
		out = append(out, sr)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"state_rules": out})
}

type putStateRequest struct {
	stateRule
	// UpdatedBy names who made the change (the console sends the admin).
	UpdatedBy string `json:"updated_by"`
}

// putState replaces a state's rule: every weekday is required, so a form
// that forgot one cannot open a day to texts (or close it) by accident.
func (h *RhythmHandler) putState(w http.ResponseWriter, r *http.Request) {
	var req putStateRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	rule := rhythm.StateRule{State: strings.ToUpper(chi.URLParam(r, "state")), MaxPer24h: req.MaxPer24h, Note: req.Note}
	for d, name := range weekdays {
		s, ok := req.Windows[name]
		if !ok {
			web.WriteError(w, r, h.log, apperr.Invalid("windows", "%s is missing: give all of %s", name, strings.Join(weekdays[:], ", ")))
			return
		}
		win, err := quiet.Parse(s)
		if err != nil {
			web.WriteError(w, r, h.log, apperr.Invalid("windows", "%s: %v", name, err))
			return
		}
		rule.Windows[d] = win
	}
	if len(req.Windows) != len(weekdays) {
		web.WriteError(w, r, h.log, apperr.Invalid("windows", "only %s", strings.Join(weekdays[:], ", ")))
		return
	}
	if strings.TrimSpace(req.UpdatedBy) == "" {
		web.WriteError(w, r, h.log, apperr.Invalid("updated_by", "is required: who changed a legal rule is on record"))
		return
	}
	if err := rule.Validate(); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if err := h.store.SaveStateRule(r.Context(), rule.State, rule.Windows, rule.MaxPer24h, rule.Note, req.UpdatedBy); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if err := h.states.Refresh(r.Context(), h.store); err != nil {
		h.log.Warn("state rules saved but not reloaded here; the refresh will", zap.Error(err))
	}
	h.log.Info("state rule changed", zap.String("state", rule.State), zap.String("by", req.UpdatedBy))
	h.listStates(w, r)
}

func (h *RhythmHandler) deleteState(w http.ResponseWriter, r *http.Request) {
	state := strings.ToUpper(chi.URLParam(r, "state"))
	deleted, err := h.store.DeleteStateRule(r.Context(), state)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if !deleted {
		web.WriteError(w, r, h.log, apperr.NotFound("no rule for state %s", state))
		return
	}
	if err := h.states.Refresh(r.Context(), h.store); err != nil {
		h.log.Warn("state rules changed but not reloaded here; the refresh will", zap.Error(err))
	}
	h.log.Info("state rule deleted", zap.String("state", state))
	w.WriteHeader(http.StatusNoContent)
}

// rhythm shows a member's rhythm and its history, for the member page.
func (h *RhythmHandler) rhythm(w http.ResponseWriter, r *http.Request) {
	addr := chi.URLParam(r, "address")
	cur, found, err := h.store.Rhythm(r.Context(), addr)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	hist, err := h.store.RhythmHistory(r.Context(), addr)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if hist == nil {
		hist = []store.RhythmHistoryEntry{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"rhythm": cur, "window": cur.WindowText(), "found": found, "history": hist})
}
