// Package campaign is the domain of organizers' campaigns: what one is,
// how a draft is validated, and the states it moves through.
package campaign

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musterhq/muster/services/campaigns/template"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
)

// MaxBody is the longest text Twilio accepts, in characters.
const MaxBody = 1600

// Status is where a campaign is in its life.
type Status string

// Campaign statuses.
const (
	StatusDraft     Status = "draft"
	StatusLaunching Status = "launching" // fan-out under way (or to resume)
	StatusLaunched  Status = "launched"  // every send request published
	StatusCancelled Status = "cancelled"
)

// Audience selects members: for now, everyone carrying a tag.
type Audience struct {
	Tag string `json:"tag"`
}

// Campaign is one organizer's message to an audience.
type Campaign struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Channel     events.Channel `json:"channel"`
	Body        string         `json:"body"`
	Audience    Audience       `json:"audience"`
	Status      Status         `json:"status"`
	Targeted    int            `json:"targeted"`
	CreatedAt   time.Time      `json:"created_at"`
	LaunchedAt  *time.Time     `json:"launched_at,omitempty"`
	CompletedAt *time.Time     `json:"completed_at,omitempty"`
}

// Draft is what an organizer submits.
type Draft struct {
	Name     string         `json:"name"`
	Channel  events.Channel `json:"channel"`
	Body     string         `json:"body"`
	Audience Audience       `json:"audience"`
}

// Validate checks a draft, template included, and returns the campaign
// to store. Nothing invalid is ever saved, so nothing invalid is sent.
func (d Draft) Validate() (Campaign, error) {
	c := Campaign{
		Name: strings.TrimSpace(d.Name), Kind: "alert", Channel: d.Channel, Body: d.Body,
		Audience: Audience{Tag: strings.ToLower(strings.TrimSpace(d.Audience.Tag))}, Status: StatusDraft,
	}
	switch {
	case c.Name == "":
		return Campaign{}, apperr.Invalid("name", "is required")
	case c.Channel == "":
		c.Channel = events.ChannelSMS
	case c.Channel != events.ChannelSMS:
		return Campaign{}, apperr.Invalid("channel", "%q is not supported yet; use sms", c.Channel)
	}
	if c.Audience.Tag == "" {
		return Campaign{}, apperr.Invalid("audience.tag", "is required")
	}
	if strings.TrimSpace(c.Body) == "" {
		return Campaign{}, apperr.Invalid("body", "is required")
	}
	if n := utf8.RuneCountInString(c.Body); n > MaxBody {
		return Campaign{}, apperr.Invalid("body", "is %d characters; the most a text can be is %d", n, MaxBody)
	}
	if _, err := template.Parse("body", c.Body); err != nil {
		return Campaign{}, err
	}
	return c, nil
}
