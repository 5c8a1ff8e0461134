package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/orgsettings"
)

type organizersView struct {
	Organizers []account.Organizer
	Roles      []account.Role
	// Emailed is the address an invitation link was just emailed to.
	Emailed string
	// Invited and Password are shown once, right after an invitation
	// that could not be emailed; Fallback says why it was not.
	Invited  string
	Password string
	Fallback string
	Error    string
	// Form keeps what the admin typed when an invitation is refused.
	Form inviteForm
}

// inviteForm is the invitation form's values.
type inviteForm struct {
	Email, Name, Role string
}

func (s *Server) organizersPage(w http.ResponseWriter, r *http.Request) {
	s.renderOrganizers(w, r, http.StatusOK, organizersView{})
}

func (s *Server) renderOrganizers(w http.ResponseWriter, r *http.Request, status int, v organizersView) {
	list, err := s.Store.Organizers(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Organizers, v.Roles = list, account.Roles()
	s.render(w, r, status, "organizers", "Organizers", v)
}

type tokensView struct {
	Tokens      []store.APIToken
	Roles       []account.Role
	DefaultDays int
	// Token is shown once, right after it is made.
	Token, Name string
	Error       string
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) {
	s.renderTokens(w, r, http.StatusOK, tokensView{})
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, status int, v tokensView) {
	list, err := s.Store.APITokens(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Tokens, v.Roles, v.DefaultDays = list, account.Roles(), int(s.TokenTTL/(24*time.Hour))
	s.render(w, r, status, "tokens", "API tokens", v)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	req := tokenRequest{Name: r.PostFormValue("name"), Role: r.PostFormValue("role")}
	if d := strings.TrimSpace(r.PostFormValue("days")); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil {
			s.renderTokens(w, r, http.StatusBadRequest, tokensView{Error: "days: want a whole number"})
			return
		}
		req.Days = n
	}
	t, tok, err := s.mintToken(r, principalOf(r), req)
	switch {
	case err == nil:
		s.renderTokens(w, r, http.StatusOK, tokensView{Token: tok, Name: t.Name})
	case apperr.KindOf(err) == apperr.KindInvalid || apperr.KindOf(err) == apperr.KindForbidden:
		s.renderTokens(w, r, http.StatusBadRequest, tokensView{Error: err.Error()})
	default:
		s.failErr(w, r, err)
	}
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	name, err := s.Store.RevokeAPIToken(r.Context(), id)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "token.revoke", "token "+id, name)
	http.Redirect(w, r, "/admin/tokens", http.StatusSeeOther)
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.AuditLog(r.Context(), 500)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "audit", "Audit log", list)
}

// Messaging are the organization's settings delivery keeps, in the
// contract both services share; messagingDoc is delivery's document of
// them (who changed them last, and when).
type (
	Messaging    = orgsettings.Settings
	messagingDoc = orgsettings.Document
)

type settingsView struct {
	Messaging messagingDoc
	CanEdit   bool
	Saved     bool
	Error     string
	Console   []Setting
	// StateRules are delivery's state rules; StateRulesError says why they
	// could not be read, StateRuleError why an admin's row was refused.
	StateRules      []stateRule
	StateRulesError string
	StateRuleError  string
	StateRuleSaved  bool
	// Deadline is how long a reply may wait for an answer (hours, as the
	// form shows it); DeadlineError why an admin's value was refused, with
	// DeadlineInput what they typed.
	Deadline      string
	DeadlineSaved bool
	DeadlineError string
	DeadlineInput string
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) {
	s.renderSettings(w, r, http.StatusOK, settingsView{})
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, status int, v settingsView) {
	if v.Messaging.Settings == (Messaging{}) {
		if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/settings", nil, &v.Messaging); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	v.CanEdit = principalOf(r).Role.Allows(account.RoleAdmin)
	v.Console = s.Settings
	v.StateRules, v.StateRulesError = s.stateRules(r)
	v.StateRuleSaved = r.URL.Query().Get("saved") == "state_rule"
	v.DeadlineSaved = r.URL.Query().Get("saved") == "reply_deadline"
	d, err := s.Store.ReplyDeadline(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Deadline = strconv.FormatFloat(d.Within.Hours(), 'f', -1, 64)
	if v.DeadlineInput != "" {
		v.Deadline = v.DeadlineInput
	}
	s.render(w, r, status, "settings", "Settings", v)
}

// saveSettings sends an admin's change to delivery, which checks it, and
// records who made it in the audit log. A field the form does not carry
// keeps its current value, as in delivery's API.
func (s *Server) saveSettings(w http.ResponseWriter, r *http.Request) {
	var cur messagingDoc
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/settings", nil, &cur); err != nil {
		s.failErr(w, r, err)
		return
	}
	m := cur.Settings
	if err := r.ParseForm(); err != nil {
		s.failErr(w, r, apperr.Invalid("form", "unreadable: %v", err))
		return
	}
	for name, field := range map[string]*string{
		"org_name": &m.OrgName, "help_text": &m.HelpText, "opt_out_text": &m.OptOutText, "opt_in_text": &m.OptInText,
		"help_text_es": &m.HelpTextES, "opt_out_text_es": &m.OptOutTextES, "opt_in_text_es": &m.OptInTextES,
		"join_words": &m.JoinWords, "join_text": &m.JoinText, "join_text_es": &m.JoinTextES,
		"send_window": &m.SendWindow, "time_zone": &m.TimeZone,
	} {
		if _, sent := r.PostForm[name]; sent {
			*field = r.PostForm.Get(name)
		}
	}
	for name, field := range map[string]*int{"cap_per_day": &m.CapPerDay, "cap_per_week": &m.CapPerWeek} {
		if _, sent := r.PostForm[name]; !sent {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(r.PostForm.Get(name)))
		if err != nil {
			n = -1 // delivery refuses it with the field named
		}
		*field = n
	}
	m.ShiftAwareDefault = r.PostFormValue("shift_aware_default") == "on"
	p := principalOf(r)
	body := orgsettings.Change{Settings: m, UpdatedBy: p.Label}
	var saved messagingDoc
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodPut, "/settings", body, &saved); err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderSettings(w, r, http.StatusBadRequest, settingsView{Messaging: messagingDoc{Settings: m}, Error: err.Error()})
			return
		}
		s.failErr(w, r, err)
		return
	}
	s.forgetZone()
	if err := s.shareOrgName(r.Context(), m.OrgName, p.Label); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, p, "settings.change", "messaging settings",
		fmt.Sprintf("window %s, zone %s, caps %d/day %d/week, shift-aware %t", m.SendWindow, m.TimeZone, m.CapPerDay, m.CapPerWeek, m.ShiftAwareDefault))
	s.renderSettings(w, r, http.StatusOK, settingsView{Messaging: saved, Saved: true})
}
