package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// pollOf reads the campaign named in the path and refuses one that is not
// a poll.
func (h *Handler) pollOf(w http.ResponseWriter, r *http.Request) (campaign.Campaign, bool) {
	c, err := h.Store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return c, false
	}
	if c.Poll == nil {
		h.fail(w, r, apperr.Invalid("id", "campaign %s is not a poll", c.ID))
		return c, false
	}
	return c, true
}

// poll serves a poll's question, its answers per choice and, with by=, the
// same broken down by a contact attribute (worksite, shift, employer,
// language) as each member's was when the poll went out.
func (h *Handler) poll(w http.ResponseWriter, r *http.Request) {
	c, ok := h.pollOf(w, r)
	if !ok {
		return
	}
	res, err := h.Store.Results(r.Context(), c.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := map[string]any{"campaign_id": c.ID, "question": c.Poll.Question, "choices": c.Poll.Labels(), "poll": res.Poll}
	if by := r.URL.Query().Get("by"); by != "" {
		groups, err := h.Store.PollBreakdown(r.Context(), c.ID, by, c.Poll.Labels())
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out["by"], out["groups"] = by, groups
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// pollAnswers lists who answered what (answer= one choice, or none), a
// page at a time after the contact id after, or all as CSV (format=csv).
func (h *Handler) pollAnswers(w http.ResponseWriter, r *http.Request) {
	c, ok := h.pollOf(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	q := r.URL.Query()
	answer := q.Get("answer")
	if answer != "" && answer != "none" && !contains(c.Poll.Labels(), answer) {
		h.fail(w, r, apperr.Invalid("answer", "%q is not one of the poll's answers; use one of them or none", answer))
		return
	}
	if q.Get("format") != "csv" {
		limit, err := limitOf(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		list, err := h.Store.PollAnswers(ctx, c.ID, answer, q.Get("after"), limit)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		next := ""
		if n := len(list); n > 0 && n == clampLimit(limit) {
			next = list[n-1].ContactID
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"answers": list, "next": next})
		return
	}
	cw := startCSV(w, "poll-"+c.ID+".csv", "contact_id", "first_name", "last_name", "answer", "reply", "channel", "answered_at",
		"changes", "follow_up_yes_at")
	after := ""
	for {
		if web.KeepWriting(w) != nil {
			return
		}
		list, err := h.Store.PollAnswers(ctx, c.ID, answer, after, 1000)
		if err != nil {
			h.Log.Error("exporting poll answers", zap.String("campaign_id", c.ID), zap.Error(err))
			return
		}
		for _, x := range list {
			_ = cw.Write(x.ContactID, x.FirstName, x.LastName, x.Answer, x.Body, x.Channel, timeCell(x.AnsweredAt),
				itoa(x.Changes), timeCell(x.FollowUpYesAt))
		}
		if err := cw.Flush(); err != nil {
			return
		}
		if len(list) < 1000 {
			return
		}
		after = list[len(list)-1].ContactID
	}
}

// memberPollAnswers is a member's history of poll answers, changes
// included, newest first.
func (h *Handler) memberPollAnswers(w http.ResponseWriter, r *http.Request) {
	limit, err := limitOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.Store.MemberPollHistory(r.Context(), chi.URLParam(r, "contact"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"answers": list})
}

func timeCell(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
