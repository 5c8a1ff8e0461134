package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/upstream"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The JSON API under /api is the one public door to the services: the
// console authenticates the caller, checks the route's role, records every
// write in the audit log and passes the services' answers through, with
// two rules of its own: every list pages with an opaque cursor (page.go),
// and every error, a 404 or 405 from the router included, is the one JSON
// shape {"error", "kind", "field"}. openapi.json describes every route, its
// role (x-role) and whether it is audited (x-audited); tests hold the
// document, the router and the roles together.

// maxAnswer bounds a service's JSON answer that the console reads whole
// to audit or rewrite it (lists are paged, so answers are small).
const maxAnswer = 8 << 20

// apiNotFound answers a path the API does not have.
func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeJSONError(w, r, apperr.NotFound("the API has no %s; /api/openapi.json lists what it has", r.URL.Path))
}

// apiMethodNotAllowed answers a path the API has, asked with a method it
// does not take, naming the methods it does (also in Allow).
func (s *Server) apiMethodNotAllowed(api chi.Routes) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePath != "" {
			path = rctx.RoutePath
		}
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if api.Match(chi.NewRouteContext(), m, path) {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeJSONError(w, r, apperr.MethodNotAllowed("%s does not take %s; it takes %s", r.URL.Path, r.Method, strings.Join(allowed, ", ")))
	}
}

// readJSONBody reads an optional JSON body, checking it is one JSON value
// before it is passed on.
func readJSONBody(r *http.Request) ([]byte, error) {
	web.LimitBody(r, web.MaxJSONBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, web.ReadError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, apperr.Invalid("body", "not valid JSON")
	}
	return raw, nil
}

// bodyNeeded and bodyOptional say whether a forwarded request must carry a
// JSON body.
const (
	bodyNeeded   = true
	bodyOptional = false
)

// forward sends the caller's JSON body to a service and answers with what
// the service said, status included. Once the service has accepted,
// audit (when not nil) is given the request and the answer to record the
// action, before
// the caller hears of it: whoever sees the answer can find the entry.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, c *upstream.Client, method, path string, needBody bool, audit func(request, answer []byte)) {
	raw, err := readJSONBody(r)
	if err == nil && raw == nil && needBody {
		err = apperr.Invalid("body", "send the request as JSON")
	}
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	var body io.Reader
	if raw != nil {
		body = bytes.NewReader(raw)
	}
	resp, err := c.Raw(r.Context(), method, path, body, "application/json")
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		s.writeJSONError(w, r, fmt.Errorf("reading the answer to %s %s: %w", method, path, err))
		return
	}
	if audit != nil {
		audit(raw, answer)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// idOf reads the id a service's answer names, for the audit log; an
// answer without one audits with the id empty.
func idOf(answer []byte, path ...string) string {
	var v any
	if json.Unmarshal(answer, &v) != nil {
		return ""
	}
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	id, _ := v.(string)
	return id
}

// fieldsOf names the top-level fields of a JSON object, for an audit entry
// that says what changed without copying members' details into the log.
func fieldsOf(raw []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// clip shortens s to at most n bytes for an audit entry, on a rune
// boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
