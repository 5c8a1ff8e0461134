package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// weekdays name a state rule's days as delivery's API does, Sunday first.
var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// stateRule is one row of delivery's state rules (GET /state-rules): the
// stricter hours and 24-hour limit a state's law sets for everyone there.
type stateRule struct {
	State     string            `json:"state"`
	Windows   map[string]string `json:"windows"`
	MaxPer24h int               `json:"max_per_24h"`
	Note      string            `json:"note,omitempty"`
	UpdatedBy string            `json:"updated_by,omitempty"`
	UpdatedAt *time.Time        `json:"updated_at,omitempty"`
}

// Hours says a rule's weekly hours in a few words: "08:00–20:00 every
// day", "09:00–21:00 Mon–Sat, Sun 12:00–21:00".
func (r stateRule) Hours() string {
	dash := func(w string) string { return strings.Replace(w, "-", "–", 1) }
	week := r.Windows["mon"]
	same := true
	for _, d := range weekdays[1:] {
		if r.Windows[d] != week {
			same = false
		}
	}
	switch {
	case same && r.Windows["sun"] == week:
		return dash(week) + " every day"
	case same:
		return dash(week) + " Mon–Sat, Sun " + dash(r.Windows["sun"])
	}
	parts := make([]string, 0, len(weekdays))
	for _, d := range weekdays {
		parts = append(parts, d+" "+dash(r.Windows[d]))
	}
	return strings.Join(parts, ", ")
}

// Weekday and Sunday are the form's two windows for the rule.
func (r stateRule) Weekday() string { return r.Windows["mon"] }

// Sunday is the rule's Sunday window.
func (r stateRule) Sunday() string { return r.Windows["sun"] }

// stateRules reads delivery's table for the settings page; a failure is
// said on the page rather than failing it.
func (s *Server) stateRules(r *http.Request) ([]stateRule, string) {
	var out struct {
		Rules []stateRule `json:"state_rules"`
	}
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/state-rules", nil, &out); err != nil {
		return nil, "The state rules could not be loaded: " + err.Error()
	}
	return out.Rules, ""
}

// stateRuleRequest is what an admin sends for one state: every weekday's
// window, the limit in 24 hours (0 for none) and a note naming the law.
type stateRuleRequest struct {
	Windows   map[string]string `json:"windows"`
	MaxPer24h int               `json:"max_per_24h"`
	Note      string            `json:"note"`
}

// putStateRule sends a rule to delivery, which checks it, in the admin's
// name, and records the change in the audit log.
func (s *Server) putStateRule(r *http.Request, state string, req stateRuleRequest) (stateRule, error) {
	// Delivery checks the code and the windows; an empty one would name
	// the collection instead of a state.
	state = strings.ToUpper(strings.TrimSpace(state))
	if state == "" {
		return stateRule{}, apperr.Invalid("state", "a state is its two-letter code, such as FL")
	}
	p := principalOf(r)
	body := struct {
		stateRuleRequest
		UpdatedBy string `json:"updated_by"`
	}{req, p.Label}
	var out struct {
		Rules []stateRule `json:"state_rules"`
	}
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodPut, "/state-rules/"+url.PathEscape(state), body, &out); err != nil {
		return stateRule{}, err
	}
	days := make([]string, 0, len(weekdays))
	for _, d := range weekdays {
		days = append(days, d+" "+req.Windows[d])
	}
	s.audit(r, p, "state_rule.change", "state rule "+state,
		fmt.Sprintf("%s; at most %d in 24h; %s", strings.Join(days, ", "), req.MaxPer24h, req.Note))
	for _, rule := range out.Rules {
		if rule.State == state {
			return rule, nil
		}
	}
	return stateRule{State: state, Windows: req.Windows, MaxPer24h: req.MaxPer24h, Note: req.Note}, nil
}

// saveStateRule is the settings page's form: one window Monday to
// Saturday, one for Sunday (the Texas rule's shape), the limit and a note.
func (s *Server) saveStateRule(w http.ResponseWriter, r *http.Request) {
	week, sun := strings.TrimSpace(r.PostFormValue("weekday_window")), strings.TrimSpace(r.PostFormValue("sunday_window"))
	if sun == "" {
		sun = week
	}
	req := stateRuleRequest{Windows: map[string]string{}, Note: strings.TrimSpace(r.PostFormValue("note"))}
	for _, d := range weekdays[1:] {
		req.Windows[d] = week
	}
	req.Windows["sun"] = sun
	req.MaxPer24h = -1 // delivery refuses it with the field named
	if n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("max_per_24h"))); err == nil {
		req.MaxPer24h = n
	} else if strings.TrimSpace(r.PostFormValue("max_per_24h")) == "" {
		req.MaxPer24h = 0
	}
	state := r.PostFormValue("state")
	if _, err := s.putStateRule(r, state, req); err != nil {
		if k := apperr.KindOf(err); k == apperr.KindInvalid || k == apperr.KindNotFound {
			s.renderSettings(w, r, http.StatusBadRequest, settingsView{StateRuleError: err.Error()})
			return
		}
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings?saved=state_rule#state-rules", http.StatusSeeOther)
}

func (s *Server) apiListStateRules(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Delivery, http.MethodGet, "/state-rules", nil)
}

// apiPutStateRule replaces one state's rule; who changed it is the
// caller, never a name in the body.
func (s *Server) apiPutStateRule(w http.ResponseWriter, r *http.Request) {
	var req stateRuleRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	rule, err := s.putStateRule(r, chi.URLParam(r, "state"), req)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, rule)
}
