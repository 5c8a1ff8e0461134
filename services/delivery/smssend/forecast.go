package smssend

import (
	"context"
	"time"

	"github.com/musterhq/muster/services/delivery/rhythm"
)

// ForecastMember is one member of an audience a forecast is asked for:
// what a send request would carry of them.
type ForecastMember struct {
	To            string `json:"to"`
	TimeZone      string `json:"time_zone,omitempty"`
	State         string `json:"state,omitempty"`
	DefaultWindow string `json:"default_window,omitempty"`
}

// Forecast says how many texts would go at once if sent now, how many
// would wait and for what, and when the last would go.
type Forecast struct {
	Now   int            `json:"now"`
	Later map[string]int `json:"later"`
	// LastAt is when the last waiting text would go; nil when none waits.
	LastAt *time.Time `json:"last_at"`
	// FewerTexts counts members counted under Now who asked for LESS:
	// each goes now only if they had no text in the last 7 days, which a
	// forecast does not look up (it reserves nothing).
	FewerTexts int `json:"fewer_texts"`
}

// Forecast judges members as the send path would at now by the same
// limits (window, state, their own hours or the shift-aware default,
// pause), reading their rhythms in one statement. It reserves nothing and
// leaves out the counts the send path keeps in Redis (the frequency cap,
// LESS's week, a state's limit in 24 hours), so a text it says goes now
// may still wait for one of those; it never says later of one that would
// go now.
func (w *Worker) Forecast(ctx context.Context, members []ForecastMember) (Forecast, error) {
	now := w.cfg.Clock()
	rules := w.cfg.Rules()
	addrs := make([]string, len(members))
	for i, m := range members {
		addrs[i] = m.To
	}
	found, err := w.rhythmBatch(ctx, addrs)
	if err != nil {
		return Forecast{}, err
	}
	f := Forecast{Later: map[string]int{}}
	for i, m := range members {
		rc := recipient{to: m.To, timeZone: m.TimeZone, state: m.State, defaultWindow: m.DefaultWindow}
		limits := w.limits(now, rules, found[i], rc)
		o := limits.Next(now, w.zones.Zones(m.TimeZone, m.To, rules.Zone), w.cfg.MinOpen)
		if !o.At.After(now) {
			f.Now++
			if found[i].Less {
				f.FewerTexts++
			}
			continue
		}
		reason := o.Reason
		if reason == "" {
			reason = rhythm.ReasonQuietHours
		}
		f.Later[reason]++
		if at := o.At; f.LastAt == nil || at.After(*f.LastAt) {
			f.LastAt = &at
		}
	}
	return f, nil
}
