package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// DefaultTokenTTL is how long an API token lasts when its maker names no
// other time; MaxTokenDays bounds what they may name.
const (
	DefaultTokenTTL = 90 * 24 * time.Hour
	MaxTokenDays    = 365
)

// tokenRequest is what a new API token is asked for with, from the form
// or the JSON API.
type tokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Days is how long it lasts; 0 means the configured default.
	Days int `json:"ttl_days,omitempty"`
}

// mintToken makes an API token for p. No caller can make a token with
// more rights than its own: the role is at most p's, and a token made by
// a token lasts no longer than its parent and is revoked with it.
func (s *Server) mintToken(r *http.Request, p *principal, req tokenRequest) (store.APIToken, string, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 100 {
		return store.APIToken{}, "", apperr.Invalid("name", "name the token (up to 100 characters) after what uses it")
	}
	role, err := account.ParseRole(req.Role)
	if err != nil {
		return store.APIToken{}, "", err
	}
	if !p.Role.Allows(role) {
		return store.APIToken{}, "", apperr.Forbidden("a %s cannot make a %s token", p.Role, role)
	}
	if req.Days < 0 || req.Days > MaxTokenDays {
		return store.APIToken{}, "", apperr.Invalid("ttl_days", "want 1 to %d days", MaxTokenDays)
	}
	ttl := s.TokenTTL
	if req.Days > 0 {
		ttl = time.Duration(req.Days) * 24 * time.Hour
	}
	n := store.NewAPIToken{Name: name, Role: role, ExpiresAt: s.Now().Add(ttl)}
	if p.Session != nil {
		n.CreatedBy = p.ID
	} else {
		n.ParentID = p.TokenID
		if n.ExpiresAt.After(p.TokenExpires) {
			n.ExpiresAt = p.TokenExpires
		}
	}
	tok := account.NewAPIToken()
	n.Hash = account.HashSecret(tok)
	t, err := s.Store.CreateAPIToken(r.Context(), n)
	if err != nil {
		return store.APIToken{}, "", err
	}
	s.audit(r, p, "token.create", "token "+t.ID, name+" ("+string(role)+", until "+t.ExpiresAt.UTC().Format(time.DateOnly)+")")
	return t, tok, nil
}

// tokenJSON is an API token as the JSON API shows it.
type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	// Token is the secret itself, in the answer that made it only.
	Token string `json:"token,omitempty"`
}

func tokenOut(t store.APIToken) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt}
}

func (s *Server) apiListTokens(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.APITokens(r.Context())
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	page, next, err := pageOf(r, "tokens", list, func(t store.APIToken) string { return t.ID })
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	out := make([]tokenJSON, len(page))
	for i, t := range page {
		out[i] = tokenOut(t)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"tokens": out, "next_cursor": next})
}

func (s *Server) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	t, tok, err := s.mintToken(r, principalOf(r), req)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	out := tokenOut(t)
	out.Token = tok
	web.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	name, err := s.Store.RevokeAPIToken(r.Context(), id)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "token.revoke", "token "+id, name)
	w.WriteHeader(http.StatusNoContent)
}

// organizerJSON is an account as the JSON API shows it.
type organizerJSON struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Disabled   bool      `json:"disabled"`
	MustChange bool      `json:"must_change_password"`
	CreatedAt  time.Time `json:"created_at"`
}

func organizerOut(o account.Organizer) organizerJSON {
	return organizerJSON{ID: o.ID, Email: o.Email, Name: o.Name, Role: string(o.Role), Disabled: o.Disabled,
		MustChange: o.MustChange, CreatedAt: o.CreatedAt}
}

func (s *Server) apiListOrganizers(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.Organizers(r.Context())
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	page, next, err := pageOf(r, "organizers", list, func(o account.Organizer) string { return o.ID })
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	out := make([]organizerJSON, len(page))
	for i, o := range page {
		out[i] = organizerOut(o)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"organizers": out, "next_cursor": next})
}

// accessRequest changes an organizer's role or disables the account.
type accessRequest struct {
	Role     *string `json:"role,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

func (s *Server) apiChangeAccess(w http.ResponseWriter, r *http.Request) {
	var req accessRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	o, err := s.changeAccess(r, chi.URLParam(r, "id"), req)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, organizerOut(o))
}

// changeAccess applies an access change, which also ends the organizer's
// sessions and revokes their tokens at once, and audits it.
func (s *Server) changeAccess(r *http.Request, id string, req accessRequest) (account.Organizer, error) {
	var a store.Access
	detail := []string{}
	if req.Role != nil {
		role, err := account.ParseRole(*req.Role)
		if err != nil {
			return account.Organizer{}, err
		}
		a.Role = &role
		detail = append(detail, "role "+string(role))
	}
	if req.Disabled != nil {
		a.Disabled = req.Disabled
		detail = append(detail, "disabled "+strconv.FormatBool(*req.Disabled))
	}
	if len(detail) == 0 {
		return account.Organizer{}, apperr.Invalid("body", "name a role, or disabled true or false")
	}
	o, err := s.Store.SetAccess(r.Context(), id, a)
	if err != nil {
		return account.Organizer{}, err
	}
	s.audit(r, principalOf(r), "organizer.access", o.Email, strings.Join(detail, ", ")+"; sessions ended, tokens revoked")
	return o, nil
}

// changeAccessForm is the organizers page's role and disable buttons.
func (s *Server) changeAccessForm(w http.ResponseWriter, r *http.Request) {
	var req accessRequest
	if role := r.PostFormValue("role"); role != "" {
		req.Role = &role
	}
	switch r.PostFormValue("disabled") {
	case "true":
		t := true
		req.Disabled = &t
	case "false":
		f := false
		req.Disabled = &f
	}
	if _, err := s.changeAccess(r, chi.URLParam(r, "id"), req); err != nil {
		switch apperr.KindOf(err) {
		case apperr.KindInvalid, apperr.KindConflict, apperr.KindNotFound:
			s.renderOrganizers(w, r, http.StatusBadRequest, organizersView{Error: err.Error()})
		default:
			s.failErr(w, r, err)
		}
		return
	}
	http.Redirect(w, r, "/admin/organizers", http.StatusSeeOther)
}
