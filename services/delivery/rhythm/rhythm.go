// Package rhythm is members' own say over when and how often they are
// texted (issue #16): a window inside the legal one (NIGHTS, DAYS), a
// pause (PAUSE n, RESUME), at most one text a week (LESS, MORE), their
// language and channels (the preferences page). It holds the window
// arithmetic the send worker asks (Limits.Next), the states' stricter
// hours (StateRules, StateOf) and the Service that applies a member's
// keyword or form. Every campaign is bound by the member's choice,
// urgent alerts included; only the organization's frequency cap may be
// bypassed by an urgent alert.
package rhythm

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// Nights is what NIGHTS asks for: late afternoon and evening, clipped to
// the member's legal window.
var Nights = quiet.Window{Start: 16 * time.Hour, End: 21 * time.Hour}

// Organization is what the service needs of the organization's settings.
type Organization struct {
	Name string
	// Window is the organization's send window; Zone its time zone, for
	// members whose zone is not known from their number.
	Window quiet.Window
	Zone   *time.Location
}

// Service applies members' rhythm keywords and preferences.
type Service struct {
	store  *store.Store
	states *StateRules
	org    func() Organization
	// link is the member's signed preferences link.
	link  func(address string) string
	zones *quiet.Zoner
	log   *zap.Logger
}

// New builds the service. org gives the organization's current settings;
// link makes a member's signed preferences link (nil: PREFS says to ask
// an organizer).
func New(st *store.Store, states *StateRules, org func() Organization, link func(address string) string, log *zap.Logger) *Service {
	return &Service{store: st, states: states, org: org, link: link, zones: quiet.NewZoner(), log: log}
}

// Handles reports whether a reading is one Apply answers.
func Handles(m consent.Meaning) bool {
	switch m {
	case consent.Nights, consent.Days, consent.Pause, consent.Resume, consent.Less, consent.More, consent.Prefs:
		return true
	}
	return false
}

// Apply acts on a member's rhythm keyword, texted from from (E.164) in the
// message messageSID that delivery first received at at, and returns the
// confirmation in the member's language. A keyword whose argument is bad
// ("PAUSE 9999") changes nothing and is answered with the reading's
// Problem. The change is made once per message SID: a replayed webhook
// gets the first reply and changes nothing.
func (s *Service) Apply(ctx context.Context, from string, rd consent.Reading, messageSID string, at time.Time) (string, error) {
	if !Handles(rd.Meaning) {
		return "", apperr.Invalid("meaning", "%q is not a rhythm keyword", rd.Meaning)
	}
	org := s.org()
	cur, _, err := s.store.Rhythm(ctx, from)
	if err != nil {
		return "", err
	}
	lang := cur.Language
	if lang == "" {
		lang = rd.Lang
	}
	t := textsFor(lang)
	if rd.Problem != "" {
		return org.Name + ": " + rd.Problem, nil
	}
	if rd.Meaning == consent.Prefs {
		if s.link == nil {
			return fmt.Sprintf(t.noPrefs, org.Name), nil
		}
		return fmt.Sprintf(t.prefs, org.Name, s.link(from)), nil
	}
	loc := s.zones.Zones("", from, org.Zone)[0]
	legal := s.Legal(from, "")
	var apply func(*store.Rhythm) error
	var reply func(store.Rhythm) string
	switch rd.Meaning {
	case consent.Nights:
		w := intersect(Nights, legal)
		if w.Start >= w.End {
			return fmt.Sprintf(t.noNights, org.Name, legal), nil
		}
		apply = func(r *store.Rhythm) error { r.Window = &w; return nil }
		reply = func(store.Rhythm) string { return fmt.Sprintf(t.nights, org.Name, w) }
	case consent.Days:
		apply = func(r *store.Rhythm) error { r.Window = nil; return nil }
		reply = func(store.Rhythm) string { return fmt.Sprintf(t.days, org.Name, legal) }
	case consent.Pause:
		if rd.Days < 1 || rd.Days > consent.MaxPauseDays {
			// consent.Read never gives this without a Problem; a caller
			// that built its own reading gets the same answer.
			return "", apperr.Invalid("days", "a pause is 1 to %d days", consent.MaxPauseDays)
		}
		until := at.In(loc).AddDate(0, 0, rd.Days)
		apply = func(r *store.Rhythm) error { r.PausedUntil = &until; return nil }
		reply = func(store.Rhythm) string { return fmt.Sprintf(t.pause, org.Name, t.date(until)) }
	case consent.Resume:
		apply = func(r *store.Rhythm) error { r.PausedUntil = nil; return nil }
		reply = func(store.Rhythm) string { return fmt.Sprintf(t.resume, org.Name) }
	case consent.Less:
		apply = func(r *store.Rhythm) error { r.Less = true; return nil }
		reply = func(store.Rhythm) string { return fmt.Sprintf(t.less, org.Name) }
	case consent.More:
		apply = func(r *store.Rhythm) error { r.Less = false; return nil }
		reply = func(store.Rhythm) string { return fmt.Sprintf(t.more, org.Name) }
	}
	changed, err := s.store.SaveRhythm(ctx, store.RhythmChange{
		Address: from, Channel: string(events.ChannelSMS), Change: string(rd.Meaning), Source: events.SourceInboundSMS,
		MessageSID: messageSID, Evidence: fmt.Sprintf("%s (%s)", rd.Reason, messageSID), Correlation: messageSID,
		Apply: func(r *store.Rhythm) error {
			if r.Language == "" && rd.Lang != "" {
				r.Language = rd.Lang
			}
			return apply(r)
		},
		Reply: reply,
	})
	if err != nil {
		return "", err
	}
	if !changed.Repeated {
		s.log.Info("member changed their rhythm", logging.Phone("from", from), zap.String("change", string(rd.Meaning)))
	}
	return changed.Reply, nil
}

// Form is what the preferences page saves, all at once.
type Form struct {
	// Window is nil for the organization's hours.
	Window *quiet.Window
	// PauseDays pauses texts for that many days from now; 0 ends a pause;
	// -1 leaves the pause as it is.
	PauseDays int
	Less      bool
	Language  string
	// Channels is sms, email or both.
	Channels string
}

// SaveForm saves the preferences page for address (a phone number, or an
// email address whose page sets only language and channels) at once, with
// source web_form. A window outside the member's legal window is refused
// with a message naming the allowed range; nothing is saved then.
func (s *Service) SaveForm(ctx context.Context, address string, f Form, at time.Time) (store.Rhythm, error) {
	channel := events.ChannelSMS
	if strings.Contains(address, "@") {
		channel = events.ChannelEmail
		f.Window, f.PauseDays, f.Less = nil, -1, false
	}
	legal := s.Legal(address, "")
	if f.Window != nil {
		if f.Window.Start >= f.Window.End || f.Window.Start < legal.Start || f.Window.End > legal.End {
			return store.Rhythm{}, apperr.Invalid("window", "choose hours between %s and %s, your legal window",
				legal.String()[:5], legal.String()[6:])
		}
	}
	if f.PauseDays < -1 || f.PauseDays > consent.MaxPauseDays {
		return store.Rhythm{}, apperr.Invalid("pause_days", "a pause is 1 to %d days (0 for none)", consent.MaxPauseDays)
	}
	if !validLanguage(f.Language) {
		return store.Rhythm{}, apperr.Invalid("language", "choose one of %s", strings.Join(Languages, ", "))
	}
	switch f.Channels {
	case "sms", "email", "both":
	default:
		return store.Rhythm{}, apperr.Invalid("channels", "choose sms, email or both")
	}
	loc := s.zones.Zones("", address, s.org().Zone)[0]
	evidence := fmt.Sprintf("window=%s pause_days=%d less=%t language=%s channels=%s", windowOrOrg(f.Window), f.PauseDays, f.Less, f.Language, f.Channels)
	changed, err := s.store.SaveRhythm(ctx, store.RhythmChange{
		Address: address, Channel: string(channel), Change: "web_form", Source: events.SourceWebForm, Evidence: evidence,
		Apply: func(r *store.Rhythm) error {
			if channel == events.ChannelSMS {
				r.Window, r.Less = f.Window, f.Less
			}
			switch {
			case f.PauseDays == 0:
				r.PausedUntil = nil
			case f.PauseDays > 0:
				until := at.In(loc).AddDate(0, 0, f.PauseDays)
				r.PausedUntil = &until
			}
			r.Language, r.Channels = strings.ToLower(f.Language), f.Channels
			return nil
		},
	})
	if err != nil {
		return store.Rhythm{}, err
	}
	if err := s.channelChoice(ctx, address, channel, f.Channels, at); err != nil {
		return store.Rhythm{}, err
	}
	s.log.Info("member saved their preferences", zap.String("channel", string(channel)))
	return changed.Rhythm, nil
}

// channelChoice binds the member's choice of channels for the address
// the page is for: choosing email only suppresses their number (and SMS
// only their email address), as their own act with the page as evidence;
// choosing it again lifts that suppression, and only that one: a STOP
// stays until the member texts START.
func (s *Service) channelChoice(ctx context.Context, address string, channel events.Channel, channels string, at time.Time) error {
	wanted := channels == "both" || channels == string(channel)
	key := fmt.Sprintf("prefs.%s.%x.%d", channel, sha256.Sum256([]byte(address)), at.UnixNano())
	if wanted {
		lifted, err := s.store.UnsuppressSource(ctx, string(channel), address, events.SourceWebForm, at, consent.Change{
			Channel: channel, Address: address, Change: events.ConsentResubscribe, Source: events.SourceWebForm,
			Evidence: "chose " + channels + " on the preferences page", At: at, Key: key,
		}.Event(at))
		if lifted {
			s.log.Info("member chose this channel again on their preferences page", zap.String("channel", string(channel)))
		}
		return err
	}
	_, err := s.store.Suppress(ctx, store.Suppression{
		Channel: string(channel), Address: address, Reason: "member chose " + channels + " only", Source: events.SourceWebForm,
		Evidence: "chose " + channels + " only on the preferences page", At: at,
		Announce: consent.Change{
			Channel: channel, Address: address, Change: events.ConsentOptedOut, Source: events.SourceWebForm,
			Evidence: "chose " + channels + " only on the preferences page", At: at, Key: key,
		}.Event(at),
	})
	return err
}

// Rhythm is a member's current rhythm, for the preferences page.
func (s *Service) Rhythm(ctx context.Context, address string) (store.Rhythm, error) {
	r, _, err := s.store.Rhythm(ctx, address)
	return r, err
}

// Zone is the member's time zone as their number tells it (the first of
// several candidates), else the organization's.
func (s *Service) Zone(address string) *time.Location {
	return s.zones.Zones("", address, s.org().Zone)[0]
}

// Org is the organization's current settings.
func (s *Service) Org() Organization { return s.org() }

func windowOrOrg(w *quiet.Window) string {
	if w == nil {
		return "organization"
	}
	return w.String()
}

// Legal is the window a member's own must fit in whatever the day: the
// organization's, narrowed by their state's hours on every weekday. state
// is the contact's when known, else the number's area code decides.
func (s *Service) Legal(phone, state string) quiet.Window {
	w := s.org().Window
	if r := s.states.For(StateOf(state, phone)); r != nil {
		w = intersect(w, r.Narrowest())
	}
	return w
}

// texts are the confirmations in one language; each starts with the
// organization's name, as every text from it does.
type texts struct {
	nights, noNights, days, pause, resume, less, more, prefs, noPrefs string
	days7, months                                                     []string
}

var english = texts{
	nights:   "%s: OK, texts only %s your time from now on. Reply DAYS for the usual hours.",
	noNights: "%s: Evening texts are not possible where you are; texts come %s your time.",
	days:     "%s: OK, texts at the usual hours again (%s your time). Reply NIGHTS for evenings only.",
	pause:    "%s: Texts paused until %s. Reply RESUME to get them sooner.",
	resume:   "%s: Texts resumed. Reply PAUSE to pause them again.",
	less:     "%s: OK, at most one text a week from now on. Reply MORE for every alert.",
	more:     "%s: OK, you will get every alert again. Reply LESS for at most one a week.",
	prefs:    "%s: Choose when and how we reach you: %s",
	noPrefs:  "%s: Reply NIGHTS, DAYS, PAUSE, RESUME, LESS or MORE, or ask an organizer to change your settings.",
}

var spanish = texts{
	nights:   "%s: Listo, mensajes solo de %s (su hora). Responda DIAS para el horario normal.",
	noNights: "%s: No es posible recibir mensajes por la tarde donde usted vive; los mensajes llegan de %s (su hora).",
	days:     "%s: Listo, mensajes en el horario normal (%s, su hora). Responda NOCHES para recibirlos solo por la tarde.",
	pause:    "%s: Mensajes en pausa hasta el %s. Responda REANUDAR para recibirlos antes.",
	resume:   "%s: Mensajes reanudados. Responda PAUSA para pausarlos otra vez.",
	less:     "%s: Listo, como máximo un mensaje por semana. Responda MAS para recibir todas las alertas.",
	more:     "%s: Listo, recibirá todas las alertas otra vez. Responda MENOS para un mensaje por semana como máximo.",
	prefs:    "%s: Elija cuándo y cómo le escribimos: %s",
	noPrefs:  "%s: Responda NOCHES, DIAS, PAUSA, REANUDAR, MENOS o MAS, o pida a un organizador que cambie sus preferencias.",
	days7:    []string{"domingo", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado"},
	months:   []string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
}

func textsFor(lang string) texts {
	if lang == consent.Spanish {
		return spanish
	}
	return english
}

// date writes a moment in the member's zone the way the language does:
// "Tuesday, December 15 at 3:04 PM", "martes 15 de diciembre a las 15:04".
func (t texts) date(at time.Time) string {
	if t.days7 == nil {
		return at.Format("Monday, January 2 at 3:04 PM")
	}
	return fmt.Sprintf("%s %d de %s a las %s", t.days7[at.Weekday()], at.Day(), t.months[at.Month()-1], at.Format("15:04"))
}

// Languages the preferences page and the confirmations speak.
var Languages = []string{consent.English, consent.Spanish}

// validLanguage reports whether a language is one of Languages.
func validLanguage(l string) bool {
	for _, x := range Languages {
		if strings.EqualFold(l, x) {
			return true
		}
	}
	return false
}
