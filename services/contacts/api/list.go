package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/filter"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/csvsafe"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/web"
)

// queryFilter reads the list filters of GET /contacts and
// /contacts/export.csv into one filter, all of which must hold: tag
// (repeatable), assignee_id, worksite, employer, department, role, shift, language,
// sms_consent and email_consent (subscribed or opted_out), has_phone and
// has_email (true or false), rating (1 to 5, or unassessed), rating_max
// and rating_min (1 to 5), q (text in the name), and filter (a filter in
// the audience language, as JSON).
func queryFilter(q url.Values) (filter.Node, error) {
	var parts []filter.Node
	add := func(raw any) error {
		b, err := json.Marshal(raw)
		if err != nil {
			return apperr.Invalid("", "%v", err)
		}
		n, err := filter.Parse(b)
		if err != nil {
			return err
		}
		parts = append(parts, n)
		return nil
	}
	for _, t := range q["tag"] {
		if err := add(map[string]string{"tag": t}); err != nil {
			return filter.Node{}, apperr.Invalid("tag", "%v", err)
		}
	}
	for _, f := range append([]string{"language", "member_id", "assignee_id"}, contact.KnownAttributes()...) {
		if v := q.Get(f); v != "" {
			if err := add(map[string]string{"field": f, "op": "eq", "value": v}); err != nil {
				return filter.Node{}, err
			}
		}
	}
	for _, ch := range []string{"sms", "email"} {
		if v := q.Get(ch + "_consent"); v != "" {
			if err := add(map[string]any{"consent": map[string]string{"channel": ch, "status": v}}); err != nil {
				return filter.Node{}, apperr.Invalid(ch+"_consent", "want subscribed or opted_out, got %q", v)
			}
		}
	}
	for _, has := range []string{"phone", "email"} {
		v := q.Get("has_" + has)
		if v == "" {
			continue
		}
		yes, err := strconv.ParseBool(v)
		if err != nil {
			return filter.Node{}, apperr.Invalid("has_"+has, "want true or false, got %q", v)
		}
		var cond any = map[string]string{"has": has}
		if !yes {
			cond = map[string]any{"not": cond}
		}
		if err := add(cond); err != nil {
			return filter.Node{}, err
		}
	}
	if err := ratingQuery(q, add); err != nil {
		return filter.Node{}, err
	}
	if v := strings.TrimSpace(q.Get("q")); v != "" {
		if err := add(map[string]string{"text": v}); err != nil {
			return filter.Node{}, apperr.Invalid("q", "%v", err)
		}
	}
	if v := q.Get("filter"); v != "" {
		n, err := filter.Parse(json.RawMessage(v))
		if err != nil {
			return filter.Node{}, err
		}
		parts = append(parts, n)
	}
	return filter.And(parts...), nil
}

type listResponse struct {
	Contacts []contact.Contact `json:"contacts"`
	Next     string            `json:"next,omitempty"`
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := queryFilter(q)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	cur := q.Get("cursor")
	if cur == "" {
		cur = q.Get("after")
	}
	list, next, err := h.store.List(r.Context(), store.ListQuery{Filter: n, Sort: q.Get("sort"), Cursor: cur, Limit: limit})
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, listResponse{Contacts: list, Next: next})
}

type filterRequest struct {
	Filter  *json.RawMessage `json:"filter"`
	Channel string           `json:"channel"`
	Add     []string         `json:"add"`
	Remove  []string         `json:"remove"`
}

// requiredFilter parses a filter that must be given: changing every
// contact is asked for as {"all": []}, never by leaving the filter out.
func requiredFilter(raw *json.RawMessage) (filter.Node, error) {
	if raw == nil {
		return filter.Node{}, apperr.Invalid("filter", "is required; {\"all\": []} means every contact")
	}
	return filter.Parse(*raw)
}

type countResponse struct {
	events.AudienceCount
	// Channel, Reachable and Unreachable repeat the requested channel's
	// numbers: unreachable is opted out plus no address.
	Channel     string `json:"channel,omitempty"`
	Reachable   *int64 `json:"reachable,omitempty"`
	Unreachable *int64 `json:"unreachable,omitempty"`
}

// count sizes an audience: total, and per channel reachable, opted out
// and without an address.
func (h *Handler) count(w http.ResponseWriter, r *http.Request) {
	var req filterRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if req.Add != nil || req.Remove != nil {
		web.WriteError(w, r, h.log, apperr.Invalid("body", "a count takes filter and channel only"))
		return
	}
	var n filter.Node
	var err error
	if req.Filter == nil {
		n = filter.Everyone()
	} else if n, err = filter.Parse(*req.Filter); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	c, err := h.store.Count(r.Context(), n)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	resp := countResponse{AudienceCount: c, Channel: req.Channel}
	switch req.Channel {
	case "":
	case "sms", "email":
		ch := c.SMS
		if req.Channel == "email" {
			ch = c.Email
		}
		unreachable := ch.OptedOut + ch.NoAddress
		resp.Reachable, resp.Unreachable = &ch.Reachable, &unreachable
	default:
		web.WriteError(w, r, h.log, apperr.Invalid("channel", "want sms or email, got %q", req.Channel))
		return
	}
	web.WriteJSON(w, http.StatusOK, resp)
}

// bulkTags adds and removes tags on every contact a filter matches.
func (h *Handler) bulkTags(w http.ResponseWriter, r *http.Request) {
	var req filterRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	n, err := requiredFilter(req.Filter)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	add, remove := contact.NormalizeTags(req.Add), contact.NormalizeTags(req.Remove)
	if len(add) == 0 && len(remove) == 0 {
		web.WriteError(w, r, h.log, apperr.Invalid("add", "name tags to add or remove"))
		return
	}
	for _, t := range add {
		for _, u := range remove {
			if t == u {
				web.WriteError(w, r, h.log, apperr.Invalid("remove", "tag %q is both added and removed", t))
				return
			}
		}
		if len(t) > contact.MaxTagLength {
			web.WriteError(w, r, h.log, apperr.Invalid("add", "tag %.20q… is longer than %d bytes", t, contact.MaxTagLength))
			return
		}
	}
	changed, err := h.store.BulkTags(r.Context(), n, add, remove)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]int64{"changed": changed})
}

// csvStream starts a CSV download. Rows are flushed to the client as they
// are written; a failure after the first byte aborts the connection so a
// truncated file is never mistaken for a whole one.
type csvStream struct {
	w    *csvsafe.Writer
	rc   *http.ResponseController
	rw   http.ResponseWriter
	rows int
}

func startCSV(w http.ResponseWriter, name string) *csvStream {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	return &csvStream{w: csvsafe.NewWriter(w), rc: http.NewResponseController(w), rw: w}
}

// row writes one row. A long download outlasts the server's write
// timeout, so each batch of rows gets its own window (web.KeepWriting).
func (s *csvStream) row(cells ...string) error {
	if s.rows%1000 == 0 {
		if err := web.KeepWriting(s.rw); err != nil {
			return err
		}
	}
	if err := s.w.Write(cells...); err != nil {
		return err
	}
	if s.rows++; s.rows%1000 == 0 {
		if err := s.w.Flush(); err != nil {
			return err
		}
		_ = s.rc.Flush()
	}
	return nil
}

// finish flushes the end of the file, or aborts the response on err.
func (s *csvStream) finish(r *http.Request, log *zap.Logger, err error) {
	if err == nil {
		err = s.w.Flush()
	}
	if err != nil {
		if r.Context().Err() == nil {
			log.Error("csv download failed part-way", zap.String("path", r.URL.Path), zap.Int("rows", s.rows), zap.Error(err))
		}
		panic(http.ErrAbortHandler) // net/http's way to cut a response short
	}
}

// export streams the contacts a list filter matches as CSV, with every
// cell neutralized against formula injection (see csvsafe.Neutralize).
func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	n, err := queryFilter(r.URL.Query())
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	var out *csvStream
	known := contact.KnownAttributes()
	var custom []string
	err = h.store.Export(r.Context(), n, func(keys []string) error {
		custom = keys
		out = startCSV(w, "contacts.csv")
		header := []string{"contact_id", "member_id", "first_name", "last_name", "phone", "email"}
		header = append(header, known...)
		header = append(header, "language", "time_zone", "tags")
		for _, k := range custom {
			header = append(header, "attributes."+k)
		}
		header = append(header, "sms_consent", "email_consent", "created_at", "support_rating", "rated_at")
		return out.row(header...)
	}, func(c store.ExportRow) error {
		cells := []string{c.ID, c.MemberID, c.FirstName, c.LastName, string(c.Phone), string(c.Email)}
		for _, k := range known {
			cells = append(cells, c.Attributes[k])
		}
		cells = append(cells, c.Language, c.TimeZone, strings.Join(c.Tags, "; "))
		for _, k := range custom {
			cells = append(cells, c.Attributes[k])
		}
		cells = append(cells, c.SMSConsent, c.EmailConsent, c.CreatedAt.UTC().Format(time.RFC3339))
		if c.Rating != nil {
			cells = append(cells, strconv.Itoa(c.Rating.Rating), c.Rating.RatedAt.UTC().Format(time.RFC3339))
		} else {
			cells = append(cells, "", "")
		}
		return out.row(cells...)
	})
	if out == nil {
		if err != nil {
			web.WriteError(w, r, h.log, err)
		}
		return
	}
	out.finish(r, h.log, err)
}

// tags lists the tags in use with how many contacts carry each, most used
// first: q narrows them to those starting with it, limit (1 to 200,
// default 200) caps the list.
func (h *Handler) tags(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxTagList {
			web.WriteError(w, r, h.log, apperr.Invalid("limit", "want a number from 1 to %d, got %q", store.MaxTagList, v))
			return
		}
		limit = n
	}
	prefix := q.Get("q")
	if len(prefix) > contact.MaxTagLength {
		web.WriteError(w, r, h.log, apperr.Invalid("q", "is longer than a tag can be (%d bytes)", contact.MaxTagLength))
		return
	}
	list, err := h.store.Tags(r.Context(), prefix, limit)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if list == nil {
		list = []store.TagCount{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"tags": list})
}
