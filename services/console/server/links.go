package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/logging"
)

// setPasswordPath is the page an emailed link opens; the token is its
// only parameter, so the link carries no personal data.
const setPasswordPath = "/account/set-password"

// accountEmailTime bounds sending one account email, which for a reset
// finishes after the answer.
const accountEmailTime = 30 * time.Second

// WaitForMail waits for account emails still being sent (password resets
// finish after their answer), for a clean shutdown.
func (s *Server) WaitForMail() { s.mail.Wait() }

// accountEmail is one email to one organizer, as delivery's
// POST /account-emails takes it.
type accountEmail struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// emailReady says why account links cannot be emailed, or "" when they
// can: the console knows its public address and delivery has email on.
func (s *Server) emailReady(ctx context.Context) string {
	if s.PublicURL == "" {
		return "the console's public address (CONSOLE_PUBLIC_URL) is not set"
	}
	var snd Senders
	if err := s.Services.Delivery.JSON(ctx, http.MethodGet, "/senders", nil, &snd); err != nil {
		s.Log.Warn("asking delivery whether email is on", zap.Error(err))
		return "delivery could not be asked whether email is on"
	}
	if !snd.EmailConfigured {
		return "email is not configured (DELIVERY_SENDGRID_API_KEY)"
	}
	return ""
}

// mailLink records a new link for o and emails it. The link's token is
// random; only its hash is kept.
func (s *Server) mailLink(ctx context.Context, o account.Organizer, purpose account.LinkPurpose, by string) error {
	tok := account.NewSecret()
	if err := s.Store.CreateAccountLink(ctx, store.NewAccountLink{
		Hash: account.HashSecret(tok), OrganizerID: o.ID, Purpose: purpose, CreatedBy: by, ExpiresAt: s.Now().Add(purpose.TTL()),
	}); err != nil {
		return err
	}
	link := strings.TrimRight(s.PublicURL, "/") + setPasswordPath + "?token=" + url.QueryEscape(tok)
	org := s.orgName(ctx)
	if org == "" {
		org = defaultOrgName
	}
	var e accountEmail
	e.To = o.Email
	switch purpose {
	case account.LinkInvite:
		e.Subject = fmt.Sprintf("You are invited to %s's organizing console", org)
		e.Text = fmt.Sprintf("Hello%s,\n\n%s invited you to %s's organizing console as %s.\n\nChoose your password here (the link works once, for %d hours):\n\n%s\n\nIf you did not expect this, ignore this email.\n",
			greeting(o.Name), by, org, article(string(o.Role)), int(account.InviteTTL.Hours()), link)
	default:
		e.Subject = fmt.Sprintf("Reset your password for %s's organizing console", org)
		e.Text = fmt.Sprintf("Hello%s,\n\nSomeone asked to reset the password of your account on %s's organizing console.\n\nChoose a new password here (the link works once, for %d minutes):\n\n%s\n\nIf it was not you, ignore this email: your password stays as it is.\n",
			greeting(o.Name), org, int(account.ResetTTL.Minutes()), link)
	}
	if err := s.Services.Delivery.JSON(ctx, http.MethodPost, "/account-emails", e, nil); err != nil {
		return fmt.Errorf("emailing the %s link: %w", purpose, err)
	}
	return nil
}

func greeting(name string) string {
	if name == "" {
		return ""
	}
	return " " + name
}

func article(role string) string {
	if role == string(account.RoleAdmin) || role == string(account.RoleOrganizer) {
		return "an " + role
	}
	return "a " + role
}

// inviteOrganizer makes an account and emails its organizer a link to
// choose their password (single use, for account.InviteTTL). Where email
// cannot go (no public address, email not configured, or the provider
// refused), the account gets a one-time password instead, shown to the
// admin once with the reason; the organizer replaces it at first sign-in.
func (s *Server) inviteOrganizer(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	email, err := account.ParseEmail(r.PostFormValue("email"))
	var role account.Role
	if err == nil {
		role, err = account.ParseRole(r.PostFormValue("role"))
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if err != nil {
		s.renderOrganizers(w, r, http.StatusBadRequest, organizersView{Error: err.Error(), Form: inviteForm{Email: r.PostFormValue("email"), Name: name, Role: r.PostFormValue("role")}})
		return
	}
	// Nobody knows this password: an emailed invitation's account cannot
	// be signed in to until its link is used.
	unknown, err := account.HashPassword(account.NewSecret())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	o, err := s.Store.CreateOrganizer(r.Context(), account.Organizer{Email: email, Name: name, Role: role, PasswordHash: unknown, MustChange: true})
	if apperr.KindOf(err) == apperr.KindConflict {
		s.renderOrganizers(w, r, http.StatusBadRequest, organizersView{Error: err.Error(), Form: inviteForm{Email: email, Name: name, Role: string(role)}})
		return
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	why := s.emailReady(r.Context())
	if why == "" {
		err := s.mailLink(r.Context(), o, account.LinkInvite, p.Label)
		if err == nil {
			s.audit(r, p, "organizer.invite", o.Email, string(o.Role)+", link emailed")
			s.renderOrganizers(w, r, http.StatusOK, organizersView{Emailed: o.Email})
			return
		}
		s.Log.Warn("invitation not emailed; showing a one-time password", logging.Email("email", o.Email), zap.Error(err))
		why = "the invitation email could not be sent"
		if err := s.Store.EndAccountLinks(r.Context(), o.ID); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	password := account.NewSecret()[:20]
	hash, err := account.HashPassword(password)
	if err == nil {
		err = s.Store.SetOneTimePassword(r.Context(), o.ID, hash)
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, p, "organizer.invite", o.Email, string(o.Role)+", one-time password shown: "+why)
	s.renderOrganizers(w, r, http.StatusOK, organizersView{Invited: o.Email, Password: password, Fallback: why})
}

type forgotView struct {
	Token, Email string
	Sent         bool
	Error        string
	Minutes      int
}

// forgotPage asks for the email of an account whose password is lost.
func (s *Server) forgotPage(w http.ResponseWriter, r *http.Request) {
	s.renderForgot(w, r, http.StatusOK, forgotView{})
}

func (s *Server) renderForgot(w http.ResponseWriter, r *http.Request, status int, v forgotView) {
	v.Token = account.NewSecret()
	v.Minutes = int(account.ResetTTL.Minutes())
	s.setCookie(w, r, signInCookie, v.Token, 3600)
	s.render(w, r, status, "forgot", "Forgot your password?", v)
}

// anonymous stands for a caller with no session in the audit log.
func (s *Server) anonymous(r *http.Request) *principal {
	return &principal{ID: "anonymous", Label: "someone at " + s.clientIP(r)}
}

// requestReset answers every email the same, whether or not an account
// has it, and at the same pace: the link is made and emailed after the
// answer. Requests are limited like sign-in attempts, per email and per
// address.
func (s *Server) requestReset(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signInCookie)
	if err != nil || !account.SecretsEqual(r.PostFormValue(csrfField), c.Value) {
		s.fail(w, r, http.StatusForbidden, "The form was stale or forged; reload the page and try again.")
		return
	}
	raw := strings.TrimSpace(r.PostFormValue("email"))
	email, err := account.ParseEmail(raw)
	if err != nil {
		s.renderForgot(w, r, http.StatusBadRequest, forgotView{Email: raw, Error: "Enter the email address you sign in with."})
		return
	}
	ok, err := s.Limiter.Allow(r.Context(), "reset:email:"+email, "reset:ip:"+s.clientIP(r))
	if err != nil {
		s.failErr(w, r, apperr.Unavailable(err, "password reset is unavailable"))
		return
	}
	if !ok {
		s.Log.Warn("password reset rate limited", logging.Email("email", email))
		s.renderForgot(w, r, http.StatusTooManyRequests, forgotView{Email: email, Error: "Too many requests. Wait a few minutes and try again."})
		return
	}
	who := s.anonymous(r)
	ctx := context.WithoutCancel(r.Context())
	s.mail.Add(1)
	go func() {
		defer s.mail.Done()
		ctx, cancel := context.WithTimeout(ctx, accountEmailTime)
		defer cancel()
		s.sendReset(ctx, who, email)
	}()
	s.renderForgot(w, r, http.StatusOK, forgotView{Email: email, Sent: true})
}

// sendReset emails a reset link when an enabled account has the email,
// and records the request, whatever came of it, in the audit log.
func (s *Server) sendReset(ctx context.Context, who *principal, email string) {
	record := func(detail string) {
		if err := s.Store.Audit(ctx, store.AuditEntry{ActorID: who.ID, Actor: who.Label, Action: "password.reset.request", Target: email, Detail: detail}); err != nil {
			s.Log.Error("audit entry lost", zap.String("action", "password.reset.request"), zap.Error(err))
		}
	}
	o, err := s.Store.OrganizerByEmail(ctx, email)
	switch {
	case apperr.KindOf(err) == apperr.KindNotFound:
		record("no such account; nothing sent")
		return
	case err != nil:
		s.Log.Error("password reset not sent", zap.Error(err))
		record("not sent: the account could not be read")
		return
	case o.Disabled:
		record("account disabled; nothing sent")
		return
	}
	if why := s.emailReady(ctx); why != "" {
		s.Log.Error("password reset not sent", logging.Email("email", email), zap.String("reason", why))
		record("not sent: " + why)
		return
	}
	if err := s.mailLink(ctx, o, account.LinkReset, who.Label); err != nil {
		s.Log.Error("password reset not sent", logging.Email("email", email), zap.Error(err))
		record("not sent: the email failed")
		return
	}
	record("link emailed")
}

type setPasswordView struct {
	Token, CSRF string
	Email       string
	Invite      bool
	Dead        bool
	Error       string
}

// linkPage opens an emailed link: a form for the password, or, for a link
// unknown, used, expired or for a disabled account, one page saying so.
func (s *Server) linkPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	s.renderLink(w, r, http.StatusOK, tok, "")
}

func (s *Server) renderLink(w http.ResponseWriter, r *http.Request, status int, tok, msg string) {
	v := setPasswordView{Token: tok, Error: msg}
	l, err := s.Store.AccountLinkByHash(r.Context(), account.HashSecret(tok))
	switch {
	case apperr.KindOf(err) == apperr.KindNotFound || tok == "":
		v.Dead, status = true, http.StatusGone
	case err != nil:
		s.failErr(w, r, err)
		return
	default:
		v.Email, v.Invite = l.Organizer.Email, l.Purpose == account.LinkInvite
	}
	v.CSRF = account.NewSecret()
	s.setCookie(w, r, signInCookie, v.CSRF, 3600)
	title := "Choose a new password"
	if v.Invite {
		title = "Welcome: choose your password"
	}
	s.render(w, r, status, "setpassword", title, v)
}

// setPasswordFromLink spends a link on a new password, ends every other
// session of the account, and signs its organizer in.
func (s *Server) setPasswordFromLink(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(signInCookie)
	if err != nil || !account.SecretsEqual(r.PostFormValue(csrfField), c.Value) {
		s.fail(w, r, http.StatusForbidden, "The form was stale or forged; reload the page and try again.")
		return
	}
	tok, next, again := r.PostFormValue("token"), r.PostFormValue("new"), r.PostFormValue("confirm")
	if next != again {
		s.renderLink(w, r, http.StatusBadRequest, tok, "The two passwords do not match.")
		return
	}
	if err := account.CheckNewPassword(next); err != nil {
		s.renderLink(w, r, http.StatusBadRequest, tok, "The password "+strings.TrimPrefix(err.Error(), "password: ")+".")
		return
	}
	hash, err := account.HashPassword(next)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	l, err := s.Store.UseAccountLink(r.Context(), account.HashSecret(tok), hash)
	if apperr.KindOf(err) == apperr.KindNotFound {
		s.renderLink(w, r, http.StatusGone, tok, "")
		return
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	o := l.Organizer
	who := &principal{ID: o.ID, Label: o.Label()}
	action := "password.reset"
	if l.Purpose == account.LinkInvite {
		action = "organizer.join"
	}
	s.audit(r, who, action, o.Email, "password set from an emailed link; other sessions ended")
	ses, csrf := account.NewSecret(), account.NewSecret()
	if err := s.Store.CreateSession(r.Context(), account.HashSecret(ses), o.ID, csrf, s.Now().Add(s.SessionTTL)); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, who, "signin", o.Email, "from an emailed link")
	s.clearCookie(w, r, signInCookie)
	s.setCookie(w, r, sessionCookie, ses, int(s.SessionTTL.Seconds()))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
