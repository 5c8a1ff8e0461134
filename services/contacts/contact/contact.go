// Package contact is the member list's domain: a contact, its channels as
// validated types, and the rules for normalizing what organizers type. It
// imports no infrastructure.
package contact

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/phone"
)

// Phone is a phone number in E.164 form (+15552013344).
type Phone string

// ParsePhone normalizes a number typed in any common format to E.164,
// reading numbers without a country code as in region (for example "US").
// Numbers that cannot be real in their region are refused with the reason.
// The rules are shared/phone's, so every service reads a number the way
// an import does.
func ParsePhone(raw, region string) (Phone, error) {
	p, err := phone.Parse(raw, region)
	return Phone(p), err
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
	if len(s) > 254 { // RFC 5321's limit on a forward path
		return "", apperr.Invalid("email", "is %d characters long; the limit is 254", len(s))
	}
	at := strings.LastIndexByte(s, '@')
	switch {
	case at < 0:
		return "", apperr.Invalid("email", "%q is not an email address: it has no @", raw)
	case at == len(s)-1:
		return "", apperr.Invalid("email", "%q has no domain after the @", raw)
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", apperr.Invalid("email", "%q is not an email address", raw)
	}
	if domain := s[at+1:]; !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, ".") {
		return "", apperr.Invalid("email", "%q has no valid domain (such as example.org) after the @", raw)
	}
	return Email(strings.ToLower(s)), nil
}

// The attributes every union list carries. They live in Attributes under
// these keys (not in columns of their own) so an audience filter treats them
// exactly like an organizer's custom fields; the store indexes the ones
// organizers filter on most.
const (
	AttrWorksite   = "worksite"
	AttrEmployer   = "employer"
	AttrDepartment = "department"
	AttrRole       = "role"
	AttrShift      = "shift"
)

// KnownAttributes lists the standard attribute keys in the order exports
// write them.
func KnownAttributes() []string {
	return []string{AttrWorksite, AttrEmployer, AttrDepartment, AttrRole, AttrShift}
}

// AttributeKey turns a column header or a field name into an attribute key:
// lower case, words joined by underscores ("Union Steward?" becomes
// "union_steward"), so "Shift" and "shift " are one attribute. It returns ""
// when nothing usable is left.
func AttributeKey(name string) string {
	var b strings.Builder
	pendingSep := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if pendingSep && b.Len() > 0 {
				b.WriteByte('_')
			}
			pendingSep = false
			b.WriteRune(r)
			continue
		}
		pendingSep = true
	}
	key := b.String()
	if len(key) > MaxAttributeKey {
		key = key[:MaxAttributeKey]
		for !utf8.ValidString(key) {
			key = key[:len(key)-1]
		}
	}
	return key
}

// Limits on what one contact may hold, so a stray spreadsheet column cannot
// turn a contact into a megabyte of JSON.
const (
	MaxAttributeKey   = 64
	MaxAttributeValue = 2048
	MaxAttributes     = 100
	MaxTags           = 100
	MaxTagLength      = 64
	MaxMemberID       = 64
	MaxName           = 200
)

// Contact is one member of the union's list.
type Contact struct {
	ID string `json:"id"`
	// MemberID is the union's own member number: the strongest key when an
	// import matches rows to contacts.
	MemberID   string            `json:"member_id,omitempty"`
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Phone      Phone             `json:"phone,omitempty"`
	Email      Email             `json:"email,omitempty"`
	TimeZone   string            `json:"time_zone,omitempty"`
	Language   string            `json:"language,omitempty"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
	// AssigneeID is the console account (organizer or steward) the member
	// is assigned to, "" when nobody is; AssigneeName and
	// AssigneeFirstName are that account's names when it was assigned.
	AssigneeID        string    `json:"assignee_id"`
	AssigneeName      string    `json:"assignee_name"`
	AssigneeFirstName string    `json:"assignee_first_name"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Rating is the member's latest support rating, nil while unassessed;
	// only the rating endpoints change it.
	Rating *Rating `json:"rating"`
}

// Draft is what an organizer submits to create a contact, before
// normalization.
type Draft struct {
	MemberID   string            `json:"member_id"`
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
	c, errs := NewNormalizer(region).Normalize(d)
	if len(errs) > 0 {
		return Contact{}, errs[0]
	}
	return c, nil
}

// Normalizer turns drafts into contacts and remembers which time zones
// exist, which an import of a million rows would otherwise look up a
// million times. It is not safe for concurrent use: give each goroutine
// its own.
type Normalizer struct {
	region string
	zones  map[string]bool
}

// NewNormalizer reads numbers without a country code as in region.
func NewNormalizer(region string) *Normalizer {
	return &Normalizer{region: region, zones: map[string]bool{}}
}

// Normalize validates a draft into a contact and reports every field at
// fault, each as an apperr naming the field, so an import's error report
// can list them all at once.
func (n *Normalizer) Normalize(d Draft) (Contact, []error) {
	var errs []error
	c := Contact{
		MemberID:   strings.TrimSpace(d.MemberID),
		FirstName:  strings.TrimSpace(d.FirstName),
		LastName:   strings.TrimSpace(d.LastName),
		Language:   strings.ToLower(strings.TrimSpace(d.Language)),
		Tags:       NormalizeTags(d.Tags),
		Attributes: map[string]string{},
	}
	if strings.TrimSpace(d.Phone) == "" && strings.TrimSpace(d.Email) == "" {
		errs = append(errs, apperr.Invalid("phone", "a contact needs a phone number or an email"))
	}
	if strings.TrimSpace(d.Phone) != "" {
		p, err := ParsePhone(d.Phone, n.region)
		if err != nil {
			errs = append(errs, err)
		}
		c.Phone = p
	}
	if strings.TrimSpace(d.Email) != "" {
		e, err := ParseEmail(d.Email)
		if err != nil {
			errs = append(errs, err)
		}
		c.Email = e
	}
	if tz := strings.TrimSpace(d.TimeZone); tz != "" {
		if !n.zoneExists(tz) {
			errs = append(errs, apperr.Invalid("time_zone", "%q is not an IANA time zone", tz))
		}
		c.TimeZone = tz
	}
	if err := checkText("member_id", c.MemberID, MaxMemberID); err != nil {
		errs = append(errs, err)
	}
	if err := checkText("first_name", c.FirstName, MaxName); err != nil {
		errs = append(errs, err)
	}
	if err := checkText("last_name", c.LastName, MaxName); err != nil {
		errs = append(errs, err)
	}
	if err := checkText("language", c.Language, 35); err != nil { // BCP 47 tags fit in 35
		errs = append(errs, err)
	}
	if len(c.Tags) > MaxTags {
		errs = append(errs, apperr.Invalid("tags", "%d tags; the limit is %d", len(c.Tags), MaxTags))
	}
	for _, t := range c.Tags {
		if len(t) > MaxTagLength {
			errs = append(errs, apperr.Invalid("tags", "tag %.20q… is longer than %d bytes", t, MaxTagLength))
			break
		}
	}
	for k, v := range d.Attributes {
		key := AttributeKey(k)
		if key == "" {
			errs = append(errs, apperr.Invalid("attributes", "attribute name %q has no letters or digits", k))
			continue
		}
		v = strings.TrimSpace(v)
		if problem := textProblem(v, MaxAttributeValue, true); problem != "" {
			errs = append(errs, apperr.Invalid("attributes."+key, "%s", problem))
			continue
		}
		if v != "" {
			c.Attributes[key] = v
		}
	}
	if len(c.Attributes) > MaxAttributes {
		errs = append(errs, apperr.Invalid("attributes", "%d attributes; the limit is %d", len(c.Attributes), MaxAttributes))
	}
	if len(errs) > 0 {
		return Contact{}, errs
	}
	return c, nil
}

func (n *Normalizer) zoneExists(tz string) bool {
	ok, seen := n.zones[tz]
	if !seen {
		_, err := time.LoadLocation(tz)
		ok = err == nil
		if len(n.zones) < 1024 { // every real zone fits; junk cannot grow it without bound
			n.zones[tz] = ok
		}
	}
	return ok
}

// checkText refuses values too long to be what the field says, and control
// characters, which only ever arrive by accident and break exports.
func checkText(field, s string, limit int) error {
	if problem := textProblem(s, limit, false); problem != "" {
		return apperr.Invalid(field, "%s", problem)
	}
	return nil
}

// textProblem says what is wrong with a value, "" when nothing is. Line
// breaks are allowed where multiline is (a notes column).
func textProblem(s string, limit int, multiline bool) string {
	if len(s) > limit {
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(s), limit)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' && !(multiline && (c == '\n' || c == '\r')) || c == 0x7f {
			return "contains a control character"
		}
	}
	return ""
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

// Patch is an organizer's edit of some fields of a contact: a nil field is
// left alone, an empty phone or email removes it, Tags replaces the tags,
// and an attribute set to null is removed. Consent is not a field of a
// contact, so no patch can touch it.
type Patch struct {
	MemberID  *string   `json:"member_id"`
	FirstName *string   `json:"first_name"`
	LastName  *string   `json:"last_name"`
	Phone     *string   `json:"phone"`
	Email     *string   `json:"email"`
	TimeZone  *string   `json:"time_zone"`
	Language  *string   `json:"language"`
	Tags      *[]string `json:"tags"`
	// AddTags and RemoveTags change single tags, read and written in the
	// one transaction that locks the contact, so tagging one member never
	// undoes a tag another organizer added meanwhile. They cannot be
	// given with Tags, nor name one tag in both.
	AddTags    []string           `json:"add_tags"`
	RemoveTags []string           `json:"remove_tags"`
	Attributes map[string]*string `json:"attributes"`
}

// Apply edits c and validates the result as a whole, so an edit can never
// leave a contact without a phone and an email.
func (p Patch) Apply(c Contact, region string) (Contact, error) {
	d := Draft{
		MemberID: c.MemberID, FirstName: c.FirstName, LastName: c.LastName,
		Phone: string(c.Phone), Email: string(c.Email), TimeZone: c.TimeZone, Language: c.Language,
		Tags: c.Tags, Attributes: make(map[string]string, len(c.Attributes)),
	}
	for k, v := range c.Attributes {
		d.Attributes[k] = v
	}
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&d.MemberID, p.MemberID)
	set(&d.FirstName, p.FirstName)
	set(&d.LastName, p.LastName)
	set(&d.Phone, p.Phone)
	set(&d.Email, p.Email)
	set(&d.TimeZone, p.TimeZone)
	set(&d.Language, p.Language)
	if p.Tags != nil {
		if len(p.AddTags) > 0 || len(p.RemoveTags) > 0 {
			return Contact{}, apperr.Invalid("tags", "give tags to replace them all, or add_tags and remove_tags, not both")
		}
		d.Tags = *p.Tags
	}
	if len(p.AddTags) > 0 || len(p.RemoveTags) > 0 {
		add, remove := NormalizeTags(p.AddTags), NormalizeTags(p.RemoveTags)
		gone := make(map[string]bool, len(remove))
		for _, t := range remove {
			gone[t] = true
		}
		for _, t := range add {
			if gone[t] {
				return Contact{}, apperr.Invalid("remove_tags", "tag %q is both added and removed", t)
			}
		}
		var tags []string
		for _, t := range NormalizeTags(d.Tags) {
			if !gone[t] {
				tags = append(tags, t)
			}
		}
		d.Tags = append(tags, add...)
	}
	for k, v := range p.Attributes {
		key := AttributeKey(k)
		if v == nil {
			delete(d.Attributes, key)
			continue
		}
		d.Attributes[key] = *v
	}
	out, err := d.Normalize(region)
	if err != nil {
		return Contact{}, err
	}
	out.ID, out.CreatedAt, out.UpdatedAt = c.ID, c.CreatedAt, c.UpdatedAt
	return out, nil
}
