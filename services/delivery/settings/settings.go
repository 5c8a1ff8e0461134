// Package settings holds the organization's messaging settings that
// admins change in the console without a deploy: the name texts are
// signed with, the HELP, opt-out and opt-in replies, the send window,
// the organization's time zone and members' frequency caps. Every
// replica reads the current ones from PostgreSQL within seconds of a
// change; the environment gives the defaults until an admin saves.
package settings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/freqcap"
	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/orgsettings"
)

// Settings are the editable values, as the console and delivery's API
// exchange them.
type Settings = orgsettings.Settings

// maxReply keeps a keyword reply to at most two GSM-7 segments.
const maxReply = 306

// Rules are settings parsed for the send path.
type Rules struct {
	Window quiet.Window
	Zone   *time.Location
	Caps   freqcap.Caps
	// Replies are the keyword replies by language ("en", "es").
	Replies map[string]Replies
	// Reader reads members' texts with the organization's join words.
	Reader consent.Reader
	Join   []string
	// ShiftAware applies a send request's DefaultWindow to members who
	// never chose their hours.
	ShiftAware bool
}

// Replies are the organization's answers to members' keywords in one
// language.
type Replies struct {
	Help    string
	OptOut  string
	OptIn   string
	Welcome string
}

// In gives the replies in a language, English when there are none in it.
func (r Rules) In(lang string) Replies {
	if x, ok := r.Replies[lang]; ok {
		return x
	}
	return r.Replies[consent.English]
}

// Parse checks the settings and parses them. The HELP reply must say how
// to opt out, and every reply must fit two segments.
func Parse(s Settings) (Rules, error) {
	var errs []error
	w, err := quiet.Parse(s.SendWindow)
	if err != nil {
		errs = append(errs, apperr.Invalid("send_window", "%v", err))
	}
	zone, err := time.LoadLocation(s.TimeZone)
	if err != nil || s.TimeZone == "" {
		errs = append(errs, apperr.Invalid("time_zone", "%q is not an IANA time zone", s.TimeZone))
	}
	if s.CapPerDay < 0 || s.CapPerWeek < 0 || (s.CapPerDay > 0 && s.CapPerWeek > 0 && s.CapPerWeek < s.CapPerDay) {
		errs = append(errs, apperr.Invalid("cap_per_week", "caps are 0 (none) or positive, and a week's is not below a day's"))
	}
	if strings.TrimSpace(s.OrgName) == "" {
		errs = append(errs, apperr.Invalid("org_name", "is required: members must know who is texting them"))
	}
	for field, text := range map[string]string{
		"help_text": s.HelpText, "opt_out_text": s.OptOutText, "opt_in_text": s.OptInText, "join_text": s.JoinText,
		"help_text_es": s.HelpTextES, "opt_out_text_es": s.OptOutTextES, "opt_in_text_es": s.OptInTextES, "join_text_es": s.JoinTextES,
	} {
		if strings.TrimSpace(text) == "" || utf8.RuneCountInString(text) > maxReply {
			errs = append(errs, apperr.Invalid(field, "is required and at most %d characters", maxReply))
		}
	}
	if !strings.Contains(strings.ToUpper(s.HelpText), "STOP") {
		errs = append(errs, apperr.Invalid("help_text", "must say how to opt out (Reply STOP to opt out)"))
	}
	if up := strings.ToUpper(s.HelpTextES); !strings.Contains(up, "ALTO") && !strings.Contains(up, "STOP") {
		errs = append(errs, apperr.Invalid("help_text_es", "must say how to opt out (Responda ALTO para no recibir más)"))
	}
	join, err := joinWords(s.JoinWords)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Rules{}, errors.Join(errs...)
	}
	return Rules{Window: w, Zone: zone, Caps: freqcap.Caps{PerDay: s.CapPerDay, PerWeek: s.CapPerWeek},
		Replies: map[string]Replies{
			consent.English: {Help: s.HelpText, OptOut: s.OptOutText, OptIn: s.OptInText, Welcome: s.JoinText},
			consent.Spanish: {Help: s.HelpTextES, OptOut: s.OptOutTextES, OptIn: s.OptInTextES, Welcome: s.JoinTextES},
		},
		Reader: consent.NewReader(join), Join: join, ShiftAware: s.ShiftAwareDefault}, nil
}

// joinWords reads the comma-separated join keywords: each one word, and
// none a word members already use for something else (STOP, HELP,
// PAUSE...).
func joinWords(list string) ([]string, error) {
	var out []string
	for _, w := range strings.Split(list, ",") {
		w = strings.ToUpper(strings.TrimSpace(w))
		if w == "" {
			continue
		}
		if !joinWordRe.MatchString(w) {
			return nil, apperr.Invalid("join_words", "%q must be one word of 2 to 20 letters or digits", w)
		}
		if consent.Reserved(w, []string{}) {
			return nil, apperr.Invalid("join_words", "%s is a word members use for opt-out, help or their own settings", w)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, apperr.Invalid("join_words", "name at least one join keyword (JOIN, UNETE)")
	}
	return out, nil
}

var joinWordRe = regexp.MustCompile(`^[A-Z0-9ÁÉÍÓÚÑ]{2,20}$`)

// Current is what a replica uses now: the document and its parsed rules.
type Current struct {
	orgsettings.Document
	rules Rules
}

// Source keeps the current settings.
type Source struct {
	store    *store.Store
	defaults Settings
	cur      atomic.Pointer[Current]
	log      *zap.Logger
}

// NewSource starts from the defaults, which must be valid.
func NewSource(st *store.Store, defaults Settings, log *zap.Logger) (*Source, error) {
	rules, err := Parse(defaults)
	if err != nil {
		return nil, fmt.Errorf("default settings: %w", err)
	}
	src := &Source{store: st, defaults: defaults, log: log}
	src.cur.Store(&Current{Document: orgsettings.Document{Settings: defaults}, rules: rules})
	return src, nil
}

// Rules are the current parsed settings: cheap, for the send path.
func (s *Source) Rules() Rules { return s.cur.Load().rules }

// Current is the current settings document.
func (s *Source) Current() Current { return *s.cur.Load() }

// Refresh reads the stored settings. A stored document that no longer
// parses (a later release tightened a rule) keeps the previous ones and
// says so once.
func (s *Source) Refresh(ctx context.Context) error {
	row, found, err := s.store.Settings(ctx)
	if err != nil || !found {
		return err
	}
	c, err := s.decode(row)
	if err != nil {
		return err
	}
	s.cur.Store(c)
	return nil
}

func (s *Source) decode(row store.SettingsRow) (*Current, error) {
	v := s.defaults
	if err := json.Unmarshal(row.Data, &v); err != nil {
		return nil, fmt.Errorf("decoding stored settings: %w", err)
	}
	rules, err := Parse(v)
	if err != nil {
		return nil, fmt.Errorf("stored settings: %w", err)
	}
	return &Current{Document: orgsettings.Document{Settings: v, UpdatedBy: row.UpdatedBy, UpdatedAt: row.UpdatedAt}, rules: rules}, nil
}

// Run refreshes every interval until ctx ends, so a change saved on one
// replica reaches all of them.
func (s *Source) Run(ctx context.Context, every time.Duration) {
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				s.log.Warn("settings not refreshed; keeping the current ones", zap.Error(err))
			}
			failing = true
			continue
		}
		failing = false
	}
}

// Save checks and stores new settings and uses them at once here.
func (s *Source) Save(ctx context.Context, v Settings, by string) (Current, error) {
	if strings.TrimSpace(by) == "" {
		return Current{}, apperr.Invalid("updated_by", "is required: changes are attributed")
	}
	if _, err := Parse(v); err != nil {
		return Current{}, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return Current{}, fmt.Errorf("encoding settings: %w", err)
	}
	row, err := s.store.SaveSettings(ctx, data, by)
	if err != nil {
		return Current{}, err
	}
	c, err := s.decode(row)
	if err != nil {
		return Current{}, err
	}
	s.cur.Store(c)
	return *c, nil
}
