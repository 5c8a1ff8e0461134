package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/review"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Reviews serves the queue of possible opt-outs to the console: the
// list, and an organizer's decision on one.
type Reviews struct {
	store    *store.Store
	reviewer *review.Reviewer
	now      func() time.Time
	log      *zap.Logger
}

// NewReviews builds the handler; now is the service's clock, which
// decides which reviews are flagged as due soon.
func NewReviews(st *store.Store, rv *review.Reviewer, now func() time.Time, log *zap.Logger) *Reviews {
	return &Reviews{store: st, reviewer: rv, now: now, log: log}
}

// Routes mounts the review routes on r (behind service credentials, like
// every route of this package).
func (h *Reviews) Routes(r chi.Router) {
	r.Get("/reviews", h.list)
	r.Post("/reviews/{id}/decision", h.decide)
}

// list answers {"reviews": [...], "next": "...", "due_soon": n}: open
// ones (state=open, the default) oldest due first, or decided ones
// (state=decided) latest first; each with due_at and warn. due_soon
// counts all open reviews inside the warning window.
func (h *Reviews) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	page, err := h.store.Reviews(r.Context(), store.ReviewQuery{State: q.Get("state"), After: q.Get("after"), Limit: limit}, h.now())
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if page.Reviews == nil {
		page.Reviews = []store.Review{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"reviews": page.Reviews, "next": page.Next, "due_soon": page.DueSoon})
}

type decisionRequest struct {
	// OptOut is required: true suppresses, false closes the review.
	OptOut *bool `json:"opt_out"`
	// By names the organizer (the console sends the signed-in one).
	By string `json:"by"`
}

// decide records a decision; a second, different decision is a 409.
func (h *Reviews) decide(w http.ResponseWriter, r *http.Request) {
	var req decisionRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if req.OptOut == nil {
		web.WriteError(w, r, h.log, apperr.Invalid("opt_out", "say true (an opt-out) or false (not one)"))
		return
	}
	rv, err := h.reviewer.Decide(r.Context(), chi.URLParam(r, "id"), *req.OptOut, req.By)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, rv)
}
