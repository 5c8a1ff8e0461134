package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Possible opt-outs: members' texts that might revoke consent but are not
// clear wait in delivery's review queue until an organizer decides them,
// at most 10 business days, after which delivery treats them as opt-outs
// (docs/delivery.md, "Possible opt-outs"). The inbox shows the open ones
// first; a decision names the signed-in organizer, never a name from the
// request, and is audited.

// reviewItem is one review as delivery answers it.
type reviewItem struct {
	ID         string     `json:"id"`
	Channel    string     `json:"channel"`
	Address    string     `json:"address"`
	Body       string     `json:"body"`
	Reason     string     `json:"reason"`
	CampaignID string     `json:"campaign_id"`
	ReceivedAt time.Time  `json:"received_at"`
	DueAt      time.Time  `json:"due_at"`
	DecidedAt  *time.Time `json:"decided_at"`
	Decision   string     `json:"decision"`
	DecidedBy  string     `json:"decided_by"`
	Outcome    string     `json:"outcome"`
	Warn       bool       `json:"warn"`
}

// reviewsView is the inbox's section of open reviews. Err is set when
// delivery could not be asked: the section says so rather than looking
// empty.
type reviewsView struct {
	Items   []reviewItem
	DueSoon int
	More    bool
	Err     string
}

// reviewsShown is how many open reviews the inbox lists; the API pages
// through the rest.
const reviewsShown = 100

// openReviews reads the open reviews, oldest due first.
func (s *Server) openReviews(ctx context.Context) reviewsView {
	var out struct {
		Reviews []reviewItem `json:"reviews"`
		Next    string       `json:"next"`
		DueSoon int          `json:"due_soon"`
	}
	err := s.Services.Delivery.JSON(ctx, http.MethodGet, fmt.Sprintf("/reviews?state=open&limit=%d", reviewsShown), nil, &out)
	if err != nil {
		s.Log.Warn("possible opt-outs not read from delivery", zap.Error(err))
		return reviewsView{Err: "The possible opt-outs could not be loaded. Reload the page; tell an admin if it keeps happening."}
	}
	return reviewsView{Items: out.Reviews, DueSoon: out.DueSoon, More: out.Next != ""}
}

// decideReview sends a decision to delivery in the organizer's name and
// records it in the audit log once delivery has it.
func (s *Server) decideReview(r *http.Request, id string, optOut bool) (json.RawMessage, error) {
	p := principalOf(r)
	var out json.RawMessage
	err := s.Services.Delivery.JSON(r.Context(), http.MethodPost, "/reviews/"+url.PathEscape(id)+"/decision",
		map[string]any{"opt_out": optOut, "by": p.Label}, &out)
	if err != nil {
		return nil, err
	}
	action, outcome := "review.not_opt_out", ""
	if optOut {
		action = "review.opt_out"
		var rv reviewItem
		if json.Unmarshal(out, &rv) == nil && rv.Outcome != "" {
			outcome = "suppression " + rv.Outcome
		}
	}
	s.audit(r, p, action, "review "+id, outcome)
	return out, nil
}

// reviewDecision is the inbox's "Opt out" / "Not an opt-out" form.
func (s *Server) reviewDecision(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var optOut bool
	switch r.PostFormValue("decision") {
	case "opt_out":
		optOut = true
	case "not_opt_out":
	default:
		s.failErr(w, r, apperr.Invalid("decision", "want opt_out or not_opt_out"))
		return
	}
	if _, err := s.decideReview(r, id, optOut); err != nil {
		s.failErr(w, r, err)
		return
	}
	n := "review_not_opt_out"
	if optOut {
		n = "review_opt_out"
	}
	http.Redirect(w, r, "/inbox?notice="+n, http.StatusSeeOther)
}

// reviewNotice is the inbox's message after a decision.
func reviewNotice(r *http.Request) string {
	switch r.URL.Query().Get("notice") {
	case "review_opt_out":
		return "Opted out. The number gets no more texts; the member can text START to come back."
	case "review_not_opt_out":
		return "Closed as not an opt-out. Nothing was changed."
	}
	return notice(r)
}

// apiListReviews lists possible opt-outs: state open (the default,
// oldest due first) or decided (latest first), with due_soon, the open
// ones due within two business days.
func (s *Server) apiListReviews(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, s.Services.Delivery, "/reviews", listing{Name: "reviews", After: "after", Pass: []string{"state"}})
}

// apiDecideReview decides one: {"opt_out": true} suppresses the number
// as the member's own opt-out, false closes it.
func (s *Server) apiDecideReview(w http.ResponseWriter, r *http.Request) {
	var req struct {
		OptOut *bool `json:"opt_out"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	if req.OptOut == nil {
		s.writeJSONError(w, r, apperr.Invalid("opt_out", "say true (an opt-out) or false (not one)"))
		return
	}
	out, err := s.decideReview(r, chi.URLParam(r, "id"), *req.OptOut)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, out)
}
