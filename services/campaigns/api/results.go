package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/csvsafe"
	"github.com/musterhq/muster/shared/web"
)

func (h *Handler) results(w http.ResponseWriter, r *http.Request) {
	res, err := h.Store.Results(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, res)
}

// heartbeat keeps idle streams open through proxies.
const heartbeat = 15 * time.Second

// stream serves a campaign's results as server-sent events: the numbers
// at once, then again whenever they change, at most every StreamInterval.
// Change notices come from this replica's consumer; a recount every
// StreamRecount catches what other replicas recorded. The stream outlives
// the server's write timeout: each write (an event or a heartbeat) gets
// its own window, so a client that stops reading is dropped.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	ctx := r.Context()
	res, err := h.Store.Results(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		h.fail(w, r, fmt.Errorf("response writer cannot stream"))
		return
	}
	notices, stop := h.Hub.Subscribe(res.CampaignID)
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	var last []byte
	seq := 0
	push := func(res store.Results) bool {
		data, err := json.Marshal(res)
		if err != nil {
			h.Log.Error("encoding results", zap.Error(err))
			return false
		}
		if bytes.Equal(data, last) {
			return true
		}
		last = data
		seq++
		if web.KeepWriting(w) != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: results\ndata: %s\n\n", seq, data); err != nil {
			return false
		}
		flusher.Flush()
		return true
	}
	if !push(res) {
		return
	}
	recount := time.NewTicker(h.cfg.StreamRecount)
	defer recount.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	lastPush := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.Hub.Done():
			return
		case <-beat.C:
			if web.KeepWriting(w) != nil {
				return
			}
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
			continue
		case <-notices:
			// Bursts of events become one push per interval.
			if wait := h.cfg.StreamInterval - time.Since(lastPush); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				case <-h.Hub.Done():
					return
				}
			}
		case <-recount.C:
		}
		res, err := h.Store.Results(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				h.Log.Warn("recounting results for a stream", zap.String("campaign_id", id), zap.Error(err))
			}
			continue
		}
		lastPush = time.Now()
		if !push(res) {
			return
		}
	}
}

func limitOf(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, apperr.Invalid("limit", "must be a positive number")
	}
	return n, nil
}

// rsvps lists a meeting's recipients and their answers, a page at a time
// after the contact id after, or all of them as CSV (format=csv).
func (h *Handler) rsvps(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := h.Store.Get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if c.Kind != campaign.KindMeeting {
		h.fail(w, r, apperr.Invalid("id", "campaign %s is not a meeting", c.ID))
		return
	}
	q := r.URL.Query()
	limit, err := limitOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if q.Get("format") != "csv" {
		list, err := h.Store.RSVPs(ctx, c.ID, q.Get("answer"), q.Get("after"), limit)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		next := ""
		if n := len(list); n > 0 && n == clampLimit(limit) {
			next = list[n-1].ContactID
		}
		web.WriteJSON(w, http.StatusOK, map[string]any{"rsvps": list, "next": next})
		return
	}
	cw := startCSV(w, "rsvps-"+c.ID+".csv", "contact_id", "first_name", "last_name", "answer", "channel", "source", "answered_at")
	after := ""
	for {
		// A long export outlasts the server's write timeout: each page
		// of rows gets its own window.
		if web.KeepWriting(w) != nil {
			return
		}
		list, err := h.Store.RSVPs(ctx, c.ID, q.Get("answer"), after, 1000)
		if err != nil {
			h.Log.Error("exporting rsvps", zap.String("campaign_id", c.ID), zap.Error(err))
			return
		}
		for _, x := range list {
			at := ""
			if x.AnsweredAt != nil {
				at = x.AnsweredAt.UTC().Format(time.RFC3339)
			}
			_ = cw.Write(x.ContactID, x.FirstName, x.LastName, x.Answer, x.Channel, x.Source, at)
		}
		if err := cw.Flush(); err != nil {
			return // the client went away
		}
		if len(list) < 1000 {
			return
		}
		after = list[len(list)-1].ContactID
	}
}

func clampLimit(n int) int {
	if n <= 0 || n > 1000 {
		return 1000
	}
	return n
}

// startCSV starts a CSV download. Every cell goes through csvsafe, which
// writes names and answers members typed as text, never as formulas.
func startCSV(w http.ResponseWriter, filename string, header ...string) *csvsafe.Writer {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	cw := csvsafe.NewWriter(w)
	_ = cw.Write(header...)
	return cw
}

func (h *Handler) signatures(w http.ResponseWriter, r *http.Request) {
	h.actions(w, r, "sign", "signatures")
}

func (h *Handler) calls(w http.ResponseWriter, r *http.Request) {
	h.actions(w, r, "call", "calls")
}

// actions lists a petition's signatures or calls with their count and
// goal, a page at a time after the time after, or all as CSV
// (format=csv).
func (h *Handler) actions(w http.ResponseWriter, r *http.Request, action, name string) {
	ctx := r.Context()
	c, err := h.Store.Get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if c.Petition == nil {
		h.fail(w, r, apperr.Invalid("id", "campaign %s is not a petition", c.ID))
		return
	}
	q := r.URL.Query()
	if q.Get("format") == "csv" {
		cw := startCSV(w, name+"-"+c.ID+".csv", "contact_id", "first_name", "last_name", "channel", "source", "at")
		rows := 0
		err := h.Store.EachAction(ctx, c.ID, action, func(a store.Action) error {
			// Each batch of rows gets its own write window (see rsvps).
			if rows++; rows%1000 == 1 {
				if err := web.KeepWriting(w); err != nil {
					return err
				}
			}
			return cw.Write(a.ContactID, a.FirstName, a.LastName, a.Channel, a.Source, a.At.UTC().Format(time.RFC3339Nano))
		})
		if ferr := cw.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			h.Log.Error("exporting "+name, zap.String("campaign_id", c.ID), zap.Error(err))
		}
		return
	}
	limit, err := limitOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var after time.Time
	if s := q.Get("after"); s != "" {
		if after, err = time.Parse(time.RFC3339Nano, s); err != nil {
			h.fail(w, r, apperr.Invalid("after", "is not an RFC 3339 time"))
			return
		}
	}
	list, err := h.Store.Actions(ctx, c.ID, action, after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	n, err := h.Store.CountActions(ctx, c.ID, action)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	next := ""
	if k := len(list); k > 0 && k == clampLimit(limit) {
		next = list[k-1].At.UTC().Format(time.RFC3339Nano)
	}
	out := map[string]any{"count": n, name: list, "next": next}
	if action == "sign" && c.Petition.Goal > 0 {
		out["goal"] = c.Petition.Goal
	}
	web.WriteJSON(w, http.StatusOK, out)
}
