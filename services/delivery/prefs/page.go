package prefs

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/rhythm"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/web"
)

// Preferences reads and saves a member's rhythm; rhythm.Service is one.
type Preferences interface {
	Rhythm(ctx context.Context, address string) (store.Rhythm, error)
	SaveForm(ctx context.Context, address string, f rhythm.Form, at time.Time) (store.Rhythm, error)
	Legal(phone, state string) quiet.Window
	Zone(address string) *time.Location
	Org() rhythm.Organization
}

// Handler serves the page.
type Handler struct {
	signer *Signer
	prefs  Preferences
	now    func() time.Time
	log    *zap.Logger
}

// NewHandler builds the page; now is the service's clock.
func NewHandler(s *Signer, p Preferences, now func() time.Time, log *zap.Logger) *Handler {
	return &Handler{signer: s, prefs: p, now: now, log: log}
}

// Routes mounts GET (the form, as the member's settings stand) and POST
// (save, at once), with the member-page headers (CSP, nosniff, no
// framing, no referrer, no caching).
func (h *Handler) Routes(r chi.Router) {
	page := r.With(web.MemberPages(pageStyle))
	page.Get(Pattern, h.show)
	page.Post(Pattern, h.save)
}

// pageStyle is the page's one inline style; the Content-Security-Policy
// allows it by hash, so it must be written into the page exactly.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
fieldset{border:1px solid #ccc;border-radius:.3rem;margin:0 0 1rem;padding:.6rem .9rem}
label{display:block;margin:.3rem 0}select,input[type=number]{font-size:1rem;padding:.3rem}
button{font-size:1rem;padding:.6rem 1.2rem;border:0;border-radius:.3rem;background:#1d4ed8;color:#fff;cursor:pointer}
.error{color:#b91c1c;font-weight:600}.done{color:#166534;font-weight:600}`

// words are the page's text in one language.
type words struct {
	Lang, Title, Bad, BadHelp, Expired, ExpiredHelp, Saved, Hours, Usual, Own, From, Until, Pause, PauseHelp,
	PausedUntil, Fewer, FewerHelp, Language, Channels, SMS, Email, Both, Save, Unavailable string
}

var pageWords = map[string]words{
	consent.English: {
		Lang: "en", Title: "Your settings", Bad: "This link does not work",
		BadHelp: "It may have been cut off. Text PREFS to get a new one.",
		Expired: "This link has expired", ExpiredHelp: "Links work for 30 days. Text PREFS to get a new one.",
		Saved: "Saved.", Hours: "When we may text you", Usual: "The usual hours", Own: "Only these hours (your time):",
		From: "from", Until: "until", Pause: "Pause texts", PauseHelp: "Days without texts (0 for none; empty keeps it as it is)",
		PausedUntil: "Paused until", Fewer: "Fewer texts", FewerHelp: "At most one text a week",
		Language: "Language", Channels: "Reach me by", SMS: "Text", Email: "Email", Both: "Both", Save: "Save",
		Unavailable: "We could not save that just now. Please try again in a minute.",
	},
	consent.Spanish: {
		Lang: "es", Title: "Sus preferencias", Bad: "Este enlace no funciona",
		BadHelp: "Puede estar incompleto. Envíe PREFERENCIAS para recibir uno nuevo.",
		Expired: "Este enlace ha vencido", ExpiredHelp: "Los enlaces duran 30 días. Envíe PREFERENCIAS para recibir uno nuevo.",
		Saved: "Guardado.", Hours: "Cuándo podemos escribirle", Usual: "El horario normal", Own: "Solo en este horario (su hora):",
		From: "de", Until: "a", Pause: "Pausar mensajes", PauseHelp: "Días sin mensajes (0 para ninguno; vacío lo deja igual)",
		PausedUntil: "En pausa hasta", Fewer: "Menos mensajes", FewerHelp: "Como máximo un mensaje por semana",
		Language: "Idioma", Channels: "Contactarme por", SMS: "Mensaje de texto", Email: "Correo", Both: "Ambos", Save: "Guardar",
		Unavailable: "No pudimos guardar ahora. Intente de nuevo en un minuto.",
	},
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.W.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Org}}: {{.W.Title}}</title>
<style>` + pageStyle + `</style>
</head><body>
{{if .Bad}}<h1>{{.W.Bad}}</h1><p>{{.W.BadHelp}}</p>
{{else if .Expired}}<h1>{{.W.Expired}}</h1><p>{{.W.ExpiredHelp}}</p>
{{else}}<h1>{{.Org}}: {{.W.Title}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}{{if .Saved}}<p class="done" role="status">{{.W.Saved}}</p>{{end}}
<form method="post">
{{if .Phone}}<fieldset><legend>{{.W.Hours}}</legend>
<label><input type="radio" name="window" value="usual"{{if not .Own}} checked{{end}}> {{.W.Usual}} ({{.Legal}})</label>
<label><input type="radio" name="window" value="own"{{if .Own}} checked{{end}}> {{.W.Own}}</label>
<label>{{.W.From}} <select name="start">{{range .Hours}}<option value="{{.Value}}"{{if .Start}} selected{{end}}>{{.Value}}</option>{{end}}</select>
{{.W.Until}} <select name="end" aria-label="{{.W.Until}}">{{range .Hours}}<option value="{{.Value}}"{{if .End}} selected{{end}}>{{.Value}}</option>{{end}}</select></label>
</fieldset>
<fieldset><legend>{{.W.Pause}}</legend>{{if .PausedUntil}}<p>{{.W.PausedUntil}} {{.PausedUntil}}</p>{{end}}
<label>{{.W.PauseHelp}} <input type="number" name="pause_days" min="0" max="90" inputmode="numeric"></label></fieldset>
<fieldset><legend>{{.W.Fewer}}</legend><label><input type="checkbox" name="less" value="on"{{if .Less}} checked{{end}}> {{.W.FewerHelp}}</label></fieldset>
{{end}}<fieldset><legend>{{.W.Language}}</legend><select name="language" aria-label="{{.W.Language}}">
<option value="en"{{if eq .Language "en"}} selected{{end}}>English</option><option value="es"{{if eq .Language "es"}} selected{{end}}>Español</option></select></fieldset>
<fieldset><legend>{{.W.Channels}}</legend>
<label><input type="radio" name="channels" value="sms"{{if eq .Channels "sms"}} checked{{end}}> {{.W.SMS}}</label>
<label><input type="radio" name="channels" value="email"{{if eq .Channels "email"}} checked{{end}}> {{.W.Email}}</label>
<label><input type="radio" name="channels" value="both"{{if eq .Channels "both"}} checked{{end}}> {{.W.Both}}</label></fieldset>
<button type="submit">{{.W.Save}}</button>
</form>{{end}}
</body></html>`))

type hour struct {
	Value      string
	Start, End bool
}

type pageData struct {
	W                   words
	Org                 string
	Bad, Expired, Saved bool
	Error               string
	Phone, Own, Less    bool
	Legal, PausedUntil  string
	Hours               []hour
	Language, Channels  string
}

func (h *Handler) address(w http.ResponseWriter, r *http.Request) (string, bool) {
	addr, err := h.signer.Parse(chi.URLParam(r, "token"))
	if err == nil {
		return addr, true
	}
	d := pageData{W: pageWords[consent.English], Org: h.prefs.Org().Name}
	status := http.StatusBadRequest
	if errors.Is(err, ErrExpired) {
		d.Expired, status = true, http.StatusGone
	} else {
		d.Bad = true
	}
	h.log.Info("preferences link refused", zap.Error(err))
	h.render(w, status, d)
	return "", false
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	addr, ok := h.address(w, r)
	if !ok {
		return
	}
	cur, err := h.prefs.Rhythm(r.Context(), addr)
	if err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.render(w, http.StatusOK, h.data(addr, cur))
}

func (h *Handler) save(w http.ResponseWriter, r *http.Request) {
	addr, ok := h.address(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	f := rhythm.Form{Language: r.PostFormValue("language"), Channels: r.PostFormValue("channels"), Less: r.PostFormValue("less") == "on", PauseDays: -1}
	formErr := error(nil)
	if r.PostFormValue("window") == "own" {
		win, err := quiet.Parse(r.PostFormValue("start") + "-" + r.PostFormValue("end"))
		if err != nil {
			legal := h.prefs.Legal(addr, "")
			formErr = apperr.Invalid("window", "choose hours between %s and %s, your legal window", legal.String()[:5], legal.String()[6:])
		}
		f.Window = &win
	}
	if p := strings.TrimSpace(r.PostFormValue("pause_days")); p != "" && formErr == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > consent.MaxPauseDays {
			formErr = apperr.Invalid("pause_days", "a pause is 0 to %d days", consent.MaxPauseDays)
		}
		f.PauseDays = n
	}
	var saved store.Rhythm
	if formErr == nil {
		saved, formErr = h.prefs.SaveForm(r.Context(), addr, f, h.now())
	}
	if formErr != nil && apperr.KindOf(formErr) != apperr.KindInvalid {
		h.unavailable(w, r, formErr)
		return
	}
	if formErr != nil {
		cur, err := h.prefs.Rhythm(r.Context(), addr)
		if err != nil {
			h.unavailable(w, r, err)
			return
		}
		d := h.data(addr, cur)
		d.Error = message(formErr)
		h.render(w, http.StatusBadRequest, d)
		return
	}
	d := h.data(addr, saved)
	d.Saved = true
	h.render(w, http.StatusOK, d)
}

// message is an invalid field's explanation, without the field's name.
func message(err error) string {
	var e *apperr.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return err.Error()
}

func (h *Handler) data(addr string, cur store.Rhythm) pageData {
	lang := cur.Language
	if _, ok := pageWords[lang]; !ok {
		lang = consent.English
	}
	org := h.prefs.Org()
	legal := h.prefs.Legal(addr, "")
	d := pageData{W: pageWords[lang], Org: org.Name, Phone: !strings.Contains(addr, "@"), Less: cur.Less,
		Legal: legal.String(), Language: lang, Channels: cur.Channels}
	if d.Channels == "" {
		d.Channels = "both"
	}
	own := legal
	if cur.Window != nil {
		d.Own, own = true, *cur.Window
	}
	for at := legal.Start; at <= legal.End; at += time.Hour {
		v := fmt.Sprintf("%02d:00", int(at.Hours()))
		d.Hours = append(d.Hours, hour{Value: v, Start: at == own.Start, End: at == own.End})
	}
	if cur.Paused(h.now()) {
		d.PausedUntil = cur.PausedUntil.In(h.prefs.Zone(addr)).Format("2006-01-02 15:04")
	}
	return d
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	id := web.RequestID(w, r)
	h.log.Error("preferences page failed", zap.String("request_id", id), zap.Error(err))
	http.Error(w, pageWords[consent.English].Unavailable+" (reference "+id+")", http.StatusServiceUnavailable)
}

func (h *Handler) render(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := page.Execute(w, d); err != nil {
		h.log.Warn("rendering preferences page", zap.Error(err))
	}
}
