package server

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/logging"
	"github.com/musterhq/muster/shared/web"
)

// Cookie names. The sign-in cookie carries the form's CSRF value before
// there is a session (double submit).
const (
	sessionCookie = "muster_session"
	signInCookie  = "muster_signin"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

// principal is who is making a request: an organizer with a session, or
// an API token.
type principal struct {
	ID    string
	Label string
	Role  account.Role
	// Session is set for a browser session, nil for an API token.
	Session    *store.Session
	MustChange bool
	// TokenID and TokenExpires describe the API token, for a token.
	TokenID      string
	TokenExpires time.Time
}

type principalKey struct{}

func principalOf(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// authenticate finds the caller from a Bearer token or the session
// cookie. A request with neither goes on anonymous; require decides.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *principal
		if h := r.Header.Get("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				s.deny(w, r, apperr.Unauthorized("use Authorization: Bearer <token>"))
				return
			}
			t, err := s.Store.APITokenByHash(r.Context(), account.HashSecret(strings.TrimSpace(tok)))
			if err != nil {
				s.deny(w, r, err)
				return
			}
			p = &principal{ID: "token:" + t.ID, Label: "token " + t.Name, Role: t.Role, TokenID: t.ID, TokenExpires: t.ExpiresAt}
		} else if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			ses, err := s.Store.SessionByHash(r.Context(), account.HashSecret(c.Value), s.Now())
			switch {
			case err == nil:
				p = &principal{ID: ses.Organizer.ID, Label: ses.Organizer.Label(), Role: ses.Organizer.Role, Session: &ses, MustChange: ses.Organizer.MustChange}
			case apperr.KindOf(err) == apperr.KindUnauthorized:
				// Expired or signed out elsewhere: forget the cookie.
				s.clearCookie(w, r, sessionCookie)
			default:
				s.deny(w, r, err)
				return
			}
		}
		if p != nil {
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		next.ServeHTTP(w, r)
	})
}

// require refuses callers without at least the role need: no caller is
// sent to sign in (pages) or answered 401 (API), too small a role 403.
func (s *Server) require(need account.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := principalOf(r)
			if p == nil {
				s.deny(w, r, apperr.Unauthorized("sign in first"))
				return
			}
			if !p.Role.Allows(need) {
				s.deny(w, r, apperr.Forbidden("this needs the %s role; you are %s", need, p.Role))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// passwordChanged sends an organizer still on a one-time password (an
// invitation's, or the bootstrap admin's outside development mode) to
// choose their own before anything else; the JSON API refuses them.
func (s *Server) passwordChanged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := principalOf(r); p != nil && p.MustChange && p.Session != nil {
			if isAPI(r) {
				s.writeJSONError(w, r, apperr.Forbidden("choose your own password first (/account)"))
				return
			}
			http.Redirect(w, r, "/account?first=1", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isAPI(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html")
}

// deny answers an authentication or authorization failure: JSON for the
// API and scripts, a redirect to sign in or an error page for browsers.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r) {
		s.writeJSONError(w, r, err)
		return
	}
	if apperr.KindOf(err) == apperr.KindUnauthorized && r.Method == http.MethodGet {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	s.failErr(w, r, err)
}

// uploadTime is how long an organizer's upload may take to arrive: a
// large member list over a slow link. Only a signed-in caller gets it.
const uploadTime = 30 * time.Minute

// limitBody bounds every request body, whoever sends it, before anything
// reads it. A signed-in caller's upload (a multipart form or a CSV) may be
// MaxUpload bytes and take uploadTime to arrive; every other body (forms,
// JSON, anything from a caller not signed in) is at most web.MaxJSONBody
// and has the server's timeouts. A read past the limit fails, and the
// JSON API answers 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !safeMethod(r.Method) {
			limit := int64(web.MaxJSONBody)
			if principalOf(r) != nil && isUpload(r) && s.MaxUpload > limit {
				limit = s.MaxUpload
				if err := web.AllowUpload(w, uploadTime); err != nil {
					s.Log.Warn("upload deadline not extended", zap.String("path", r.URL.Path), zap.Error(err))
				}
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// isUpload reports whether a request's body is a file: a multipart form or
// a CSV.
func isUpload(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data" || mt == "text/csv"
}

// checkCSRF refuses any state-changing request made with a session whose
// CSRF token is missing or wrong: from a form field or, for scripts, a
// header. API tokens are not ambient credentials and need none.
func (s *Server) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if safeMethod(r.Method) || p == nil || p.Session == nil {
			next.ServeHTTP(w, r)
			return
		}
		got := r.Header.Get(csrfHeader)
		if got == "" {
			got = r.FormValue(csrfField)
		}
		if !account.SecretsEqual(got, p.Session.CSRF) {
			s.Log.Warn("csrf check failed", zap.String("path", r.URL.Path), zap.String("organizer_id", p.ID))
			s.deny(w, r, apperr.Forbidden("the form was stale or forged; reload the page and try again"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// secure reports whether cookies should be marked Secure.
func (s *Server) secure(r *http.Request) bool {
	switch s.SecureCookie {
	case "true":
		return true
	case "false":
		return false
	default:
		return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	}
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	s.setCookie(w, r, name, "", -1)
}

type signInView struct {
	Token, Email, Next, Error string
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if principalOf(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	tok := account.NewSecret()
	s.setCookie(w, r, signInCookie, tok, 3600)
	s.render(w, r, http.StatusOK, "signin", "Sign in", signInView{Token: tok, Next: safeNext(r.URL.Query().Get("next"))})
}

// signInFailed is the one answer to a wrong email or a wrong password, so
// the form does not tell who has an account.
const signInFailed = "That email and password do not match an account."

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signInCookie)
	if err != nil || !account.SecretsEqual(r.PostFormValue(csrfField), c.Value) {
		s.fail(w, r, http.StatusForbidden, "The sign-in form was stale or forged; reload the page and try again.")
		return
	}
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	again := func(status int, msg string) {
		tok := account.NewSecret()
		s.setCookie(w, r, signInCookie, tok, 3600)
		s.render(w, r, status, "signin", "Sign in", signInView{Token: tok, Email: email, Next: next, Error: msg})
	}
	ok, err := s.Limiter.Allow(r.Context(), "email:"+email, "ip:"+s.clientIP(r))
	if err != nil {
		s.failErr(w, r, apperr.Unavailable(err, "sign-in is unavailable"))
		return
	}
	if !ok {
		s.countSignIn("limited")
		s.Log.Warn("sign-in rate limited", logging.Email("email", email))
		again(http.StatusTooManyRequests, "Too many sign-in attempts. Wait a few minutes and try again.")
		return
	}
	o, err := s.Store.OrganizerByEmail(r.Context(), email)
	if err != nil && apperr.KindOf(err) != apperr.KindNotFound {
		s.failErr(w, r, err)
		return
	}
	// An unknown email still costs one bcrypt comparison (o is empty).
	// A disabled account is answered like a wrong password: the form
	// does not tell a former organizer their account still exists.
	if !account.PasswordMatches(o.PasswordHash, password) || o.Disabled {
		s.countSignIn("failed")
		again(http.StatusUnauthorized, signInFailed)
		return
	}
	tok, csrf := account.NewSecret(), account.NewSecret()
	if err := s.Store.CreateSession(r.Context(), account.HashSecret(tok), o.ID, csrf, s.Now().Add(s.SessionTTL)); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.countSignIn("ok")
	s.audit(r, &principal{ID: o.ID, Label: o.Label()}, "signin", o.Email, "")
	s.clearCookie(w, r, signInCookie)
	s.setCookie(w, r, sessionCookie, tok, int(s.SessionTTL.Seconds()))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) countSignIn(outcome string) {
	if s.SignIns != nil {
		s.SignIns.WithLabelValues(outcome).Inc()
	}
}

// maxNext bounds a post-sign-in target; the console's own paths are short.
const maxNext = 2048

// safeNext keeps a post-sign-in redirect on this site: the target must
// be a path of this origin, or the organizer goes to "/". Browsers are
// forgiving with a Location header (they drop tabs and newlines, read a
// backslash as a slash, and take "//host" as another site), so a target
// is refused outright, not cleaned, when it or its decoded path holds a
// control character or a backslash, starts with anything but a single
// '/', or parses with a scheme, host or user.
func safeNext(next string) string {
	if next == "" || len(next) > maxNext || !sameOriginPath(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !sameOriginPath(u.Path) {
		return "/"
	}
	return next
}

// sameOriginPath reports whether p starts with exactly one '/' and holds
// no control character or backslash.
func sameOriginPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return false
	}
	for _, c := range p {
		if c == '\\' || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// clientIP is the address sign-in attempts are counted against: the
// peer's, unless the peer is a trusted proxy (an ingress), in which case
// it is the nearest address in X-Forwarded-For that is not a trusted
// proxy. A client cannot dodge the limit by sending the header itself:
// it is read only from trusted peers, and only up to the first hop they
// did not add.
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !s.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !s.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (s *Server) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range s.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if p.Session != nil {
		if err := s.Store.DeleteSession(r.Context(), p.Session.TokenHash); err != nil {
			s.failErr(w, r, err)
			return
		}
		s.audit(r, p, "signout", "", "")
	}
	s.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}

type accountView struct {
	First bool
	Done  bool
	Error string
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.render(w, r, http.StatusOK, "account", "Your account", accountView{First: q.Get("first") != "", Done: q.Get("changed") != ""})
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	if p.Session == nil {
		s.failErr(w, r, apperr.Forbidden("API tokens have no password"))
		return
	}
	cur, next, again := r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm")
	fail := func(msg string) {
		s.render(w, r, http.StatusBadRequest, "account", "Your account", accountView{First: p.MustChange, Error: msg})
	}
	if !account.PasswordMatches(p.Session.Organizer.PasswordHash, cur) {
		fail("Your current password is not right.")
		return
	}
	if next != again {
		fail("The new passwords do not match.")
		return
	}
	if err := account.CheckNewPassword(next); err != nil {
		fail("The new password " + strings.TrimPrefix(err.Error(), "password: ") + ".")
		return
	}
	hash, err := account.HashPassword(next)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if err := s.Store.SetPassword(r.Context(), p.ID, hash, p.Session.TokenHash); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, p, "password.change", p.Session.Organizer.Email, "")
	http.Redirect(w, r, "/account?changed=1", http.StatusSeeOther)
}

// audit records an action; a failure to record is logged, not shown,
// since the action itself already happened.
func (s *Server) audit(r *http.Request, p *principal, action, target, detail string) {
	err := s.Store.Audit(context.WithoutCancel(r.Context()), store.AuditEntry{ActorID: p.ID, Actor: p.Label, Action: action, Target: target, Detail: detail})
	if err != nil && !errors.Is(err, context.Canceled) {
		s.Log.Error("audit entry lost", zap.String("action", action), zap.Error(err))
	}
}
