package server

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/plain"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	// Me is nil on the sign-in page.
	Me   *principal
	CSRF string
	Data any
	// Zone is the organization's time zone (delivery's settings), in
	// which every time on the page is shown; Now is when the page was
	// made.
	Zone *time.Location
	Now  time.Time
	// OrgName is the union's name from its settings; SetupPending says
	// an admin has not finished first-run setup.
	OrgName      string
	SetupPending bool
}

// When is a time as organizers read it, in the organization's zone:
// "Tue 8 Dec, 16:00 EST". It takes a time, a pointer to one (nil is
// empty) or an RFC 3339 string, as the services' JSON gives them.
func (v view) When(t any) string {
	switch x := t.(type) {
	case time.Time:
		return plain.Time(x, v.Zone, v.Now)
	case *time.Time:
		if x == nil {
			return ""
		}
		return plain.Time(*x, v.Zone, v.Now)
	case string:
		if tt, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return plain.Time(tt, v.Zone, v.Now)
		}
		return x
	default:
		return ""
	}
}

// Can reports whether the viewer holds role, for showing only the buttons
// they may use (the server checks again on every request).
func (v view) Can(role string) bool {
	return v.Me != nil && v.Me.Role.Allows(account.Role(role))
}

// templateFuncs are the helpers templates may call.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"join":           strings.Join,
		"phone":          plain.Phone,
		"status":         plain.MessageStatus,
		"campaignStatus": plain.CampaignStatus,
		"consent":        plain.Consent,
		"source":         plain.Source,
		"deferReason":    plain.DeferReason,
		"support":        plain.SupportLevel,
		"add":            func(a, b int) int { return a + b },
		"minus":          func(a, b int) int { return a - b },
		"sub":            func(a int64, b int) int64 { return a - int64(b) },
		"deref":          func(p *int64) int64 { return *p },
		// dict passes several values to a sub-template.
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				m[kv[i].(string)] = kv[i+1]
			}
			return m
		},
	}
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue // the layout, and partials (_name.html) every page may include
		}
		t, err := template.New(base).Funcs(templateFuncs()).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("parsing template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a page. It renders into a buffer first so a template
// error becomes a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page, title string, data any) {
	t, ok := s.pages[page]
	if !ok {
		s.Log.Error("no such template", zap.String("page", page))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v := view{Title: title, Nav: navOf(r.URL.Path), Me: principalOf(r), Data: data, Zone: time.UTC, Now: s.Now()}
	if v.Me != nil {
		v.Zone = s.orgZone(r.Context())
		v.OrgName = s.orgName(r.Context())
		v.SetupPending = !s.setupDoneOrAssume(r.Context())
	}
	if v.Me != nil && v.Me.Session != nil {
		v.CSRF = v.Me.Session.CSRF
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.Log.Error("rendering page", zap.String("page", page), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func navOf(p string) string {
	for _, n := range []string{"contacts", "chart", "campaigns", "inbox", "optouts", "settings", "admin", "account"} {
		if strings.HasPrefix(p, "/"+n) {
			return n
		}
	}
	return "dashboard"
}

type errorView struct {
	Status  int
	Message string
}

// fail shows an error page with a message meant for the organizer.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) {
		s.writeJSONError(w, r, errorOfStatus(status, msg))
		return
	}
	s.render(w, r, status, "error", http.StatusText(status), errorView{Status: status, Message: msg})
}

// failErr shows err the way its kind deserves; internal errors are logged
// here, once, and not shown.
func (s *Server) failErr(w http.ResponseWriter, r *http.Request, err error) {
	if isAPI(r) {
		s.writeJSONError(w, r, err)
		return
	}
	status := web.StatusOf(err)
	msg := err.Error()
	if status >= 500 {
		s.Log.Error("request failed", zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.Error(err))
		msg = web.BodyOf(err).Error // what a dependency said under it stays in the log
		if status == http.StatusInternalServerError {
			msg = "Something went wrong on our side. Try again, and tell an admin if it keeps happening."
		}
	}
	s.fail(w, r, status, msg)
}

func (s *Server) writeJSONError(w http.ResponseWriter, r *http.Request, err error) {
	if apperr.KindOf(err) == apperr.KindUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="muster"`)
	}
	web.WriteError(w, r, s.Log, err)
}

// errorOfStatus is the error a page's status and message stand for, so a
// script asking for JSON gets the one error shape, kind included.
func errorOfStatus(status int, msg string) error {
	switch status {
	case http.StatusBadRequest:
		return apperr.Invalid("", "%s", msg)
	case http.StatusUnauthorized:
		return apperr.Unauthorized("%s", msg)
	case http.StatusForbidden:
		return apperr.Forbidden("%s", msg)
	case http.StatusNotFound:
		return apperr.NotFound("%s", msg)
	case http.StatusMethodNotAllowed:
		return apperr.MethodNotAllowed("%s", msg)
	case http.StatusConflict:
		return apperr.Conflict("%s", msg)
	case http.StatusTooManyRequests:
		return apperr.TooMany("%s", msg)
	case http.StatusServiceUnavailable:
		return apperr.Unavailable(nil, "%s", msg)
	default:
		return errors.New(msg)
	}
}
