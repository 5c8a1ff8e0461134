// Package contact is the member list's domain: a contact, its channels as
// validated types, and the rules for normalizing what organizers type. It
// imports no infrastructure.
package contact

import (
	"net/mail"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/musterhq/muster/shared/apperr"
)

// Phone is a phone number in E.164 form (+15552013344).
type Phone string

// ParsePhone normalizes a number typed in any common format to E.164,
// reading numbers without a country code as in region (for example "US").
// Numbers that cannot be real in their region are refused with the reason.
func ParsePhone(raw, region string) (Phone, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", apperr.Invalid("phone", "is empty")
	}
	for _, r := range s {
		if (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') && !strings.ContainsRune("xXeExtT", r) {
			return "", apperr.Invalid("phone", "%q contains letters", raw)
		}
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", apperr.Invalid("phone", "%q is not a phone number: %v", raw, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", apperr.Invalid("phone", "%q is not a valid number", raw)
	}
	return Phone(phonenumbers.Format(num, phonenumbers.E164)), nil
}

// Email is a lower-cased email address.
type Email string

// ParseEmail validates an address and lower-cases it. Display names
// ("Ana <ana@x.org>") are refused: a column should hold one address.
func ParseEmail(raw string) (Email, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", apperr.Invalid("email", "is empty")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", apperr.Invalid("email", "%q is not an email address", raw)
	}
	at := strings.LastIndexByte(s, '@')
	if domain := s[at+1:]; !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", apperr.Invalid("email", "%q has no valid domain", raw)
	}
	return Email(strings.ToLower(s)), nil
}

// Contact is one member of the union's list.
type Contact struct {
	ID         string            `json:"id"`
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Phone      Phone             `json:"phone,omitempty"`
	Email      Email             `json:"email,omitempty"`
	TimeZone   string            `json:"time_zone,omitempty"`
	Language   string            `json:"language,omitempty"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

// Draft is what an organizer submits to create a contact, before
// normalization.
type Draft struct {
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Phone      string            `json:"phone"`
	Email      string            `json:"email"`
	TimeZone   string            `json:"time_zone"`
	Language   string            `json:"language"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
}

// Normalize validates a draft into a contact. A contact needs a way to be
// reached: a phone number, an email, or both.
func (d Draft) Normalize(region string) (Contact, error) {
	c := Contact{
		FirstName:  strings.TrimSpace(d.FirstName),
		LastName:   strings.TrimSpace(d.LastName),
		Language:   strings.ToLower(strings.TrimSpace(d.Language)),
		Tags:       NormalizeTags(d.Tags),
		Attributes: d.Attributes,
	}
	if c.Attributes == nil {
		c.Attributes = map[string]string{}
	}
	if d.Phone == "" && d.Email == "" {
		return Contact{}, apperr.Invalid("phone", "a contact needs a phone number or an email")
	}
	if d.Phone != "" {
		p, err := ParsePhone(d.Phone, region)
		if err != nil {
			return Contact{}, err
		}
		c.Phone = p
	}
	if d.Email != "" {
		e, err := ParseEmail(d.Email)
		if err != nil {
			return Contact{}, err
		}
		c.Email = e
	}
	if tz := strings.TrimSpace(d.TimeZone); tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			return Contact{}, apperr.Invalid("time_zone", "%q is not an IANA time zone", tz)
		}
		c.TimeZone = tz
	}
	return c, nil
}

// NormalizeTags lower-cases and trims tags, dropping empties and repeats,
// so "Night Shift" and "night shift " are one tag.
func NormalizeTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}
