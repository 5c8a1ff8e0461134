package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// forecastPage and forecastMost bound the launch forecast's cost: the
// console pages the audience from contacts 1,000 members at a time (each
// page one forecast request to delivery, its limit) and stops after
// 10,000, saying so: a confirmation page should open in a second or two,
// and beyond that the proportions rarely change.
const (
	forecastPage = 1000
	forecastMost = 10000
)

// launchForecast is what delivery says of the audience's texts if sent
// now: how many go at once, how many wait and why, when the last goes.
type launchForecast struct {
	Now        int
	Later      map[string]int
	LastAt     *time.Time
	FewerTexts int
	// Judged is how many members were looked at; Partial says the
	// audience had more than forecastMost.
	Judged  int
	Partial bool
	Zone    *time.Location
	// Error says why there is no forecast, without failing the page.
	Error string
}

// LaterTotal is how many texts would wait.
func (f launchForecast) LaterTotal() int {
	n := 0
	for _, v := range f.Later {
		n += v
	}
	return n
}

// Reasons say the waiting texts by reason, most first, in plain words.
func (f launchForecast) Reasons() []string {
	words := map[string]string{
		"member_window": "their own hours",
		"pause":         "their pause",
		"fewer_texts":   "fewer texts",
		"state_rule":    "their state's rule",
		"quiet_hours":   "the organization's hours",
		"cap":           "the frequency cap",
	}
	keys := make([]string, 0, len(f.Later))
	for k, v := range f.Later {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if f.Later[keys[i]] != f.Later[keys[j]] {
			return f.Later[keys[i]] > f.Later[keys[j]]
		}
		return keys[i] < keys[j]
	})
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		w, ok := words[k]
		if !ok {
			w = k
		}
		out = append(out, fmt.Sprintf("%d because of %s", f.Later[k], w))
	}
	return out
}

// Last is when the last waiting text goes, in the organization's zone.
func (f launchForecast) Last() string {
	if f.LastAt == nil {
		return ""
	}
	zone := f.Zone
	if zone == nil {
		zone = time.UTC
	}
	return f.LastAt.In(zone).Format("Mon 2 Jan 15:04 MST")
}

// forecastMember is what delivery's POST /forecast takes of a member.
type forecastMember struct {
	To            string `json:"to"`
	TimeZone      string `json:"time_zone,omitempty"`
	State         string `json:"state,omitempty"`
	DefaultWindow string `json:"default_window,omitempty"`
}

// forecast pages a campaign's text audience from contacts (the same tag
// and filter, subscribed to texts, with a phone) and asks delivery, which
// judges each member by the limits its worker applies. It reserves
// nothing and leaves out the counts delivery keeps in Redis (frequency
// cap, LESS's week, a state's daily limit): a text it says goes now may
// still wait for those.
func (s *Server) forecast(ctx context.Context, c campaign) launchForecast {
	f := launchForecast{Later: map[string]int{}, Zone: s.orgZone(ctx)}
	q := url.Values{"sms_consent": {"subscribed"}, "has_phone": {"true"}, "limit": {fmt.Sprint(forecastPage)}}
	if c.Audience.Tag != "" {
		q.Set("tag", c.Audience.Tag)
	}
	if len(c.Audience.Filter) > 0 && string(c.Audience.Filter) != "null" {
		q.Set("filter", string(c.Audience.Filter))
	}
	for f.Judged < forecastMost {
		var page struct {
			Contacts []contact `json:"contacts"`
			Next     string    `json:"next"`
		}
		if err := s.Services.Contacts.JSON(ctx, http.MethodGet, "/contacts?"+q.Encode(), nil, &page); err != nil {
			return launchForecast{Error: "The forecast could not be made: " + err.Error()}
		}
		members := make([]forecastMember, 0, len(page.Contacts))
		for _, m := range page.Contacts {
			if m.Phone == "" {
				continue
			}
			fm := forecastMember{To: m.Phone, TimeZone: m.TimeZone, State: strings.ToUpper(m.Attributes["state"])}
			switch strings.ToLower(strings.TrimSpace(m.Attributes["shift"])) {
			case "night", "nights", "noche", "noches":
				fm.DefaultWindow = "nights" // as campaigns asks for it (message.DefaultWindow)
			}
			members = append(members, fm)
		}
		if len(members) > 0 {
			var got struct {
				Now        int            `json:"now"`
				Later      map[string]int `json:"later"`
				LastAt     *time.Time     `json:"last_at"`
				FewerTexts int            `json:"fewer_texts"`
			}
			if err := s.Services.Delivery.JSON(ctx, http.MethodPost, "/forecast", map[string]any{"members": members}, &got); err != nil {
				return launchForecast{Error: "The forecast could not be made: " + err.Error()}
			}
			f.Now += got.Now
			f.FewerTexts += got.FewerTexts
			for k, v := range got.Later {
				f.Later[k] += v
			}
			if got.LastAt != nil && (f.LastAt == nil || got.LastAt.After(*f.LastAt)) {
				f.LastAt = got.LastAt
			}
		}
		f.Judged += len(page.Contacts)
		if page.Next == "" {
			return f
		}
		q.Set("cursor", page.Next)
	}
	f.Partial = true
	return f
}
