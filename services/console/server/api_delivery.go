package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/orgsettings"
	"github.com/musterhq/muster/shared/web"
)

// Delivery through the API: the message log, the suppression list and the
// messaging settings. The log shows what each member was sent, but not the
// signed links in it: a link lets whoever holds it answer (RSVP, sign,
// unsubscribe) as that member, and reading the log is a viewer's right,
// not acting for members.

func (s *Server) apiListMessages(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, s.Services.Delivery, "/messages", listing{Name: "messages", After: "after",
		Pass: []string{"campaign_id", "to", "status"}, Item: redactMessage})
}

func (s *Server) apiGetMessage(w http.ResponseWriter, r *http.Request) {
	var m json.RawMessage
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/messages/"+url.PathEscape(chi.URLParam(r, "id")), nil, &m); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	out, err := redactMessage(m)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, out)
}

// redactMessage blanks the member links in a logged message's body.
func redactMessage(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decoding a logged message: %w", err)
	}
	var body string
	if b, ok := m["body"]; !ok || json.Unmarshal(b, &body) != nil {
		return raw, nil
	}
	b, err := json.Marshal(redactLinks(body))
	if err != nil {
		return nil, fmt.Errorf("encoding a logged message: %w", err)
	}
	m["body"] = b
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding a logged message: %w", err)
	}
	return out, nil
}

// linkMarks are what precede a member's signed token in a message, each
// with the bytes its token is made of: the campaigns RSVP and sign pages
// (base64url) and delivery's unsubscribe link (a version, a dot, and
// base64url, query-escaped).
func linkMarks() []struct{ mark, token string } {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return []struct{ mark, token string }{{"/rsvp/", b64}, {"/sign/", b64}, {"/unsubscribe?t=", b64 + ".%"}}
}

// redactLinks replaces the token after each link mark with "…", leaving
// the link's place and page so a reader sees which link the member got.
func redactLinks(s string) string {
	var b strings.Builder
	marks := linkMarks()
	for {
		at, which := -1, 0
		for i, m := range marks {
			if j := strings.Index(s, m.mark); j >= 0 && (at < 0 || j < at) {
				at, which = j, i
			}
		}
		if at < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := at + len(marks[which].mark)
		b.WriteString(s[:end])
		tok := end
		for tok < len(s) && strings.IndexByte(marks[which].token, s[tok]) >= 0 {
			tok++
		}
		if tok > end {
			b.WriteString("…")
		}
		s = s[tok:]
	}
}

// apiListSuppressions is the suppression list, searched with q (text in
// the address), newest first, as delivery answers it.
func (s *Server) apiListSuppressions(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, s.Services.Delivery, "/suppressions", listing{Name: "suppressions", After: "after", Pass: []string{"q"}})
}

func (s *Server) apiGetSettings(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Delivery, http.MethodGet, "/settings", nil)
}

// apiPutSettings replaces the messaging settings, which delivery checks.
// Who changed them is the caller, never a name in the body, recorded by
// delivery and in the audit log. A field the body leaves out keeps its
// current value, as in delivery's own API.
func (s *Server) apiPutSettings(w http.ResponseWriter, r *http.Request) {
	var cur messagingDoc
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/settings", nil, &cur); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	m := cur.Settings
	if err := web.DecodeJSON(r, &m); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	p := principalOf(r)
	body := orgsettings.Change{Settings: m, UpdatedBy: p.Label}
	var saved json.RawMessage
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodPut, "/settings", body, &saved); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.forgetZone()
	if err := s.shareOrgName(r.Context(), m.OrgName, p.Label); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, p, "settings.change", "messaging settings",
		fmt.Sprintf("window %s, zone %s, caps %d/day %d/week", m.SendWindow, m.TimeZone, m.CapPerDay, m.CapPerWeek))
	web.WriteJSON(w, http.StatusOK, saved)
}
