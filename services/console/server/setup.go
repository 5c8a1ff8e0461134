package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/orgsettings"
)

// defaultOrgName is the name delivery's settings carry until an admin
// names the union; setup does not offer it as the union's name.
const defaultOrgName = "Muster"

// defaultZone is the time zone setup offers when delivery names none.
const defaultZone = "America/New_York"

// setupZones are offered as the union's time zone (any IANA name is
// accepted).
var setupZones = []string{
	"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
	"America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico",
}

// setupDone reports whether an admin has finished first-run setup. Once
// it is done it stays done, so the answer is kept after the first yes.
func (s *Server) setupDone(ctx context.Context) (bool, error) {
	if s.setup.Load() {
		return true, nil
	}
	done, err := s.Store.SetupDone(ctx)
	if err != nil {
		return false, err
	}
	if done {
		s.setup.Store(true)
	}
	return done, nil
}

// setupDoneOrAssume is setupDone for the note on every page: when the
// database cannot say, the note is left out (the page's own work will
// report the failure).
func (s *Server) setupDoneOrAssume(ctx context.Context) bool {
	done, err := s.setupDone(ctx)
	if err != nil {
		s.Log.Warn("reading whether setup is done", zap.Error(err))
		return true
	}
	return done
}

// setupFirst takes an admin to first-run setup until it is done: every
// page but their account, setup itself and signing out. Other organizers
// read on (each page notes that an admin has not finished setup); the
// JSON API and API tokens are not held up.
func (s *Server) setupFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principalOf(r)
		if p == nil || p.Session == nil || !p.Role.Allows(account.RoleAdmin) || r.Method != http.MethodGet {
			next.ServeHTTP(w, r)
			return
		}
		done, err := s.setupDone(r.Context())
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if !done {
			http.Redirect(w, r, "/admin/setup", http.StatusSeeOther)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// composeAfterSetup keeps campaigns from being composed before the union
// is named: its name signs texts and its zone decides when they go.
// Admins are taken to setup (setupFirst); anyone else is told why.
func (s *Server) composeAfterSetup(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done, err := s.setupDone(r.Context())
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		if !done && principalOf(r).Session != nil {
			s.fail(w, r, http.StatusConflict, "An admin has not finished setup (the union's name, time zone and replies). Campaigns can be composed once they have.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Senders are who members' messages come from, as delivery is configured
// (GET /senders).
type Senders struct {
	SMSFrom             string `json:"sms_from"`
	MessagingServiceSID string `json:"messaging_service_sid"`
	EmailFrom           string `json:"email_from"`
	EmailFromName       string `json:"email_from_name"`
	EmailConfigured     bool   `json:"email_configured"`
}

type setupView struct {
	OrgName, TimeZone        string
	HelpText, OptOutText     string
	HelpTextES, OptOutTextES string
	Zones                    []string
	Senders                  Senders
	SendersError             string
	Error                    string
}

// setupPage is first-run setup: the union's name and time zone, the
// number texts come from (shown, with where it is set) and the HELP and
// STOP replies, with delivery's current values (or sensible ones) filled
// in.
func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	var doc messagingDoc
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/settings", nil, &doc); err != nil {
		s.failErr(w, r, err)
		return
	}
	m := doc.Settings
	v := setupView{OrgName: m.OrgName, TimeZone: m.TimeZone, HelpText: m.HelpText, OptOutText: m.OptOutText,
		HelpTextES: m.HelpTextES, OptOutTextES: m.OptOutTextES}
	if v.OrgName == defaultOrgName {
		v.OrgName = ""
	}
	if v.TimeZone == "" {
		v.TimeZone = defaultZone
	}
	s.renderSetup(w, r, http.StatusOK, v)
}

func (s *Server) renderSetup(w http.ResponseWriter, r *http.Request, status int, v setupView) {
	v.Zones = setupZones
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/senders", nil, &v.Senders); err != nil {
		s.Log.Warn("reading delivery's senders", zap.Error(err))
		v.SendersError = "Delivery could not say which number texts come from right now."
	}
	s.render(w, r, status, "setup", "Set up", v)
}

// saveSetup stores the union's name, zone and replies where the settings
// page does (delivery's settings), renames the other replies that still
// begin with the old name, and marks setup done.
func (s *Server) saveSetup(w http.ResponseWriter, r *http.Request) {
	v := setupView{
		OrgName: strings.TrimSpace(r.PostFormValue("org_name")), TimeZone: strings.TrimSpace(r.PostFormValue("time_zone")),
		HelpText: r.PostFormValue("help_text"), OptOutText: r.PostFormValue("opt_out_text"),
		HelpTextES: r.PostFormValue("help_text_es"), OptOutTextES: r.PostFormValue("opt_out_text_es"),
	}
	again := func(msg string) { v.Error = msg; s.renderSetup(w, r, http.StatusBadRequest, v) }
	if v.OrgName == "" {
		again("Enter the union's name: it signs every text and names the union on members' pages.")
		return
	}
	if _, err := time.LoadLocation(v.TimeZone); err != nil || v.TimeZone == "" || v.TimeZone == "Local" {
		again(fmt.Sprintf("%q is not a time zone; pick one from the list or type one like America/Chicago.", v.TimeZone))
		return
	}
	var doc messagingDoc
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/settings", nil, &doc); err != nil {
		s.failErr(w, r, err)
		return
	}
	m := doc.Settings
	old := m.OrgName
	m.OrgName, m.TimeZone = v.OrgName, v.TimeZone
	m.HelpText, m.OptOutText, m.HelpTextES, m.OptOutTextES = v.HelpText, v.OptOutText, v.HelpTextES, v.OptOutTextES
	for _, t := range []*string{&m.HelpText, &m.OptOutText, &m.OptInText, &m.HelpTextES, &m.OptOutTextES, &m.OptInTextES, &m.JoinText, &m.JoinTextES} {
		*t = renamed(*t, old, m.OrgName)
	}
	p := principalOf(r)
	body := orgsettings.Change{Settings: m, UpdatedBy: p.Label}
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodPut, "/settings", body, nil); err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			again(err.Error())
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
	if err := s.Store.MarkSetupDone(r.Context(), p.Label); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.setup.Store(true)
	s.audit(r, p, "setup.done", "messaging settings", fmt.Sprintf("name %q, zone %s", m.OrgName, m.TimeZone))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// renamed puts name in place of old at the start of a reply ("Muster:
// You are unsubscribed..."), the way delivery's default replies sign
// themselves; any other reply is left as the admin wrote it.
func renamed(text, old, name string) string {
	if old == "" || old == name {
		return text
	}
	if rest, ok := strings.CutPrefix(text, old+":"); ok {
		return name + ":" + rest
	}
	return text
}
