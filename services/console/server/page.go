package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/musterhq/muster/services/console/upstream"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The public API pages every list one way: ?limit= (1 to maxPage,
// defaultPage when absent) and ?cursor=, the next_cursor of the page
// before; the answer is {"<items>": [...], "next_cursor": "..."}, with
// next_cursor empty on the last page. Behind it each service keeps the
// paging it does best (contacts its own cursor, delivery and campaigns a
// position after which to go on, the inbox a time before which), and the
// console wraps that position in a cursor callers never build or read:
// base64url of the list's name and the service's position. The name stops
// a cursor from one list being replayed on another; a cursor that does not
// decode is the caller's 400 on the field cursor. Changing how a service
// pages later changes no caller.

const (
	defaultPage = 50
	maxPage     = 500
)

// cursorBody is what a cursor holds.
type cursorBody struct {
	List string `json:"l"`
	Pos  string `json:"p"`
}

// encodeCursor wraps a service's position in list; no position (the last
// page) is no cursor.
func encodeCursor(list, pos string) string {
	if pos == "" {
		return ""
	}
	b, _ := json.Marshal(cursorBody{List: list, Pos: pos}) // two strings always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor unwraps a cursor given out for list.
func decodeCursor(list, cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	var c cursorBody
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil || c.List != list || c.Pos == "" {
		return "", badCursor()
	}
	return c.Pos, nil
}

func badCursor() error {
	return apperr.Invalid("cursor", "is not a cursor this list gave out; start again without one")
}

// pageQuery reads a list request's cursor and limit.
func pageQuery(r *http.Request, list string) (pos string, limit int, err error) {
	q := r.URL.Query()
	limit = defaultPage
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxPage {
			return "", 0, apperr.Invalid("limit", "want a whole number from 1 to %d", maxPage)
		}
	}
	pos, err = decodeCursor(list, q.Get("cursor"))
	return pos, limit, err
}

// listing says how a service lists one collection and pages it.
type listing struct {
	// Name is the items' key, in the service's answer and in the API's,
	// and the name cursors are tagged with.
	Name string
	// After is the service's query parameter for the position to go on
	// from.
	After string
	// Pass are the query parameters passed on as the caller gave them
	// (each value of a repeated one).
	Pass []string
	// Next finds the position after this page in the service's answer;
	// nil reads the service's "next".
	Next func(page map[string]json.RawMessage, items []json.RawMessage, limit int) (string, error)
	// Item rewrites one item before the caller sees it; nil leaves it.
	Item func(json.RawMessage) (json.RawMessage, error)
}

// list answers one page of a service's collection in the API's paging:
// the service's own fields (a count, a goal) pass through, its next
// becomes next_cursor.
func (s *Server) list(w http.ResponseWriter, r *http.Request, c *upstream.Client, path string, l listing) {
	pos, limit, err := pageQuery(r, l.Name)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	q := url.Values{}
	in := r.URL.Query()
	for _, k := range l.Pass {
		for _, v := range in[k] {
			if v != "" {
				q.Add(k, v)
			}
		}
	}
	q.Set("limit", strconv.Itoa(limit))
	if pos != "" {
		q.Set(l.After, pos)
	}
	var page map[string]json.RawMessage
	if err := c.JSON(r.Context(), http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
		// The service names its own paging parameter; the caller only
		// ever sent a cursor.
		if f := apperr.FieldOf(err); pos != "" && apperr.KindOf(err) == apperr.KindInvalid && (f == l.After || f == "cursor") {
			err = badCursor()
		}
		s.writeJSONError(w, r, err)
		return
	}
	if page == nil {
		page = map[string]json.RawMessage{}
	}
	var items []json.RawMessage
	if raw, ok := page[l.Name]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			s.writeJSONError(w, r, fmt.Errorf("reading %s from %s: %w", l.Name, path, err))
			return
		}
	}
	next := l.Next
	if next == nil {
		next = serviceNext
	}
	after, err := next(page, items, limit)
	if err != nil {
		s.writeJSONError(w, r, fmt.Errorf("reading the next position of %s: %w", path, err))
		return
	}
	if l.Item != nil {
		for i := range items {
			if items[i], err = l.Item(items[i]); err != nil {
				s.writeJSONError(w, r, fmt.Errorf("reading one of %s: %w", l.Name, err))
				return
			}
		}
	}
	if items == nil {
		items = []json.RawMessage{}
	}
	out := make(map[string]any, len(page)+1)
	for k, v := range page {
		if k != "next" {
			out[k] = v
		}
	}
	out[l.Name] = items
	out["next_cursor"] = encodeCursor(l.Name, after)
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, out)
}

// serviceNext reads the position a service gives for its next page.
func serviceNext(page map[string]json.RawMessage, _ []json.RawMessage, _ int) (string, error) {
	raw, ok := page["next"]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var next string
	if err := json.Unmarshal(raw, &next); err != nil {
		return "", fmt.Errorf("next: %w", err)
	}
	return next, nil
}

// pageOf is one page of a list the console holds whole (its organizers
// and tokens: tens of them, never deleted): the position is the key of the
// last item given, so an account or token made while an admin pages
// shifts nothing.
func pageOf[T any](r *http.Request, list string, all []T, key func(T) string) (page []T, next string, err error) {
	pos, limit, err := pageQuery(r, list)
	if err != nil {
		return nil, "", err
	}
	from := 0
	if pos != "" {
		from = -1
		for i, x := range all {
			if key(x) == pos {
				from = i + 1
				break
			}
		}
		if from < 0 {
			return nil, "", badCursor()
		}
	}
	to := min(from+limit, len(all))
	if to < len(all) {
		next = encodeCursor(list, key(all[to-1]))
	}
	return all[from:to], next, nil
}
