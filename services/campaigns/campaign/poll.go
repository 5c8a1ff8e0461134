package campaign

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/musterhq/muster/services/campaigns/template"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
)

// KindPoll asks one question members answer by reply: a choice, or a
// number on a scale.
const KindPoll Kind = "poll"

// PartFollowUp is a poll's follow-up to one choice ("Can a steward call
// you? Reply YES"), sent as an auto-reply.
const PartFollowUp Part = "followup"

// Limits on a poll.
const (
	MaxChoices     = 10
	MaxChoiceLabel = 60
	MaxScale       = 10
)

// Poll is the question and what counts as an answer. Choices and Scale
// are exclusive: a poll has labelled choices, or a scale 1..Scale whose
// answers are the numbers.
type Poll struct {
	// Question is the question as organizers see it beside the answers
	// (the text members get is the campaign's SMS).
	Question string   `json:"question"`
	Choices  []string `json:"choices,omitempty"`
	// ChoicesES are the Spanish labels, one per choice, optional.
	ChoicesES []string `json:"choices_es,omitempty"`
	Scale     int      `json:"scale,omitempty"`
	// FollowUps are the texts sent to a member whose answer is the
	// choice (by label, or the number on a scale); FollowUpsES the
	// Spanish ones. One level deep: a YES to a follow-up is recorded,
	// nothing follows it.
	FollowUps   map[string]string `json:"follow_ups,omitempty"`
	FollowUpsES map[string]string `json:"follow_ups_es,omitempty"`
}

// Labels are the answers as results count them: the choices, or "1".."n"
// on a scale.
func (p *Poll) Labels() []string {
	if p.Scale > 0 {
		out := make([]string, p.Scale)
		for i := range out {
			out[i] = strconv.Itoa(i + 1)
		}
		return out
	}
	return p.Choices
}

// Spanish is the Spanish label of choice i, empty when none was given.
func (p *Poll) Spanish(i int) string {
	if i < len(p.ChoicesES) {
		return p.ChoicesES[i]
	}
	return ""
}

// FollowUp is the follow-up text for an answer in a member's language,
// empty when the answer has none.
func (p *Poll) FollowUp(answer, lang string) string {
	if base, _, _ := strings.Cut(NormalizeLanguage(lang), "-"); base == "es" {
		if t := p.FollowUpsES[answer]; t != "" {
			return t
		}
	}
	return p.FollowUps[answer]
}

func validatePoll(in *Poll) (*Poll, error) {
	if in == nil {
		return nil, apperr.Invalid("poll", "is required for a poll campaign: the question and its choices or scale")
	}
	p := *in
	p.Question = strings.TrimSpace(p.Question)
	switch {
	case p.Question == "":
		return nil, apperr.Invalid("poll.question", "is required")
	case utf8.RuneCountInString(p.Question) > MaxBody:
		return nil, apperr.Invalid("poll.question", "is longer than %d characters", MaxBody)
	case len(p.Choices) > 0 && p.Scale != 0:
		return nil, apperr.Invalid("poll.scale", "give choices or a scale, not both")
	case len(p.Choices) == 0 && p.Scale == 0:
		return nil, apperr.Invalid("poll.choices", "give at least two choices, or a scale such as 5")
	case p.Scale != 0 && (p.Scale < 2 || p.Scale > MaxScale):
		return nil, apperr.Invalid("poll.scale", "must be from 2 to %d", MaxScale)
	case p.Scale == 0 && (len(p.Choices) < 2 || len(p.Choices) > MaxChoices):
		return nil, apperr.Invalid("poll.choices", "give from 2 to %d choices", MaxChoices)
	case len(p.ChoicesES) > 0 && len(p.ChoicesES) != len(p.Choices):
		return nil, apperr.Invalid("poll.choices_es", "give one Spanish label per choice (%d), or none", len(p.Choices))
	}
	seen := map[string]string{}
	clean := func(field string, list []string) ([]string, error) {
		out := make([]string, len(list))
		for i, c := range list {
			c = strings.Join(strings.Fields(c), " ")
			key := labelKey(c)
			switch {
			case c == "" || key == "":
				return nil, apperr.Invalid(field, "choice %d is empty", i+1)
			case utf8.RuneCountInString(c) > MaxChoiceLabel:
				return nil, apperr.Invalid(field, "%q is longer than %d characters", c, MaxChoiceLabel)
			case isNumber(key):
				return nil, apperr.Invalid(field, "%q is a number; members answer a choice by its number, so a label cannot be one", c)
			case consent.Reserved(c, nil) || strings.EqualFold(c, "no"):
				return nil, apperr.Invalid(field, "%s is a keyword members use for opt-out, help or RSVP", c)
			}
			if prev, dup := seen[key]; dup && (field == "poll.choices" || prev != strconv.Itoa(i)) {
				return nil, apperr.Invalid(field, "%q is given twice", c)
			}
			seen[key] = strconv.Itoa(i)
			out[i] = c
		}
		return out, nil
	}
	var err error
	if p.Choices, err = clean("poll.choices", p.Choices); err != nil {
		return nil, err
	}
	if p.ChoicesES, err = clean("poll.choices_es", p.ChoicesES); err != nil {
		return nil, err
	}
	labels := p.Labels()
	for _, f := range []struct {
		field string
		m     map[string]string
	}{{"poll.follow_ups", p.FollowUps}, {"poll.follow_ups_es", p.FollowUpsES}} {
		for k, t := range f.m {
			if !contains(labels, k) {
				return nil, apperr.Invalid(f.field, "%q is not one of the poll's answers (%s)", k, strings.Join(labels, ", "))
			}
			if strings.TrimSpace(t) == "" {
				delete(f.m, k)
				continue
			}
			if err := checkSMS(f.field+"."+k, t, template.MemberFields); err != nil {
				return nil, err
			}
		}
	}
	if len(p.FollowUps) == 0 {
		p.FollowUps = nil
	}
	if len(p.FollowUpsES) == 0 {
		p.FollowUpsES = nil
	}
	return &p, nil
}

// labelKey is a label as matching compares it: lower-case letters and
// digits, single spaces.
func labelKey(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		} else {
			space = true
		}
	}
	return b.String()
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
