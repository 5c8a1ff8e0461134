package contact

import (
	"github.com/musterhq/muster/shared/apperr"
)

// Merge folds from into into, the contact that stays. Blank fields of into
// are filled from from, tags are joined and attributes into lacks are
// copied. Two different member ids, phones or emails cannot both be kept,
// so that is a conflict naming the field, and the organizer edits one
// first: a merge never drops an address silently. Consent follows
// addresses, so whatever from's addresses had (an opt-out above all) comes
// along with them.
func Merge(into, from Contact) (Contact, error) {
	out := into
	pick := func(field string, a, b string) (string, error) {
		switch {
		case a == "":
			return b, nil
		case b == "" || a == b:
			return a, nil
		}
		return "", &apperr.Error{Kind: apperr.KindConflict, Field: field,
			Message: "both contacts have a " + field + " and they differ; edit one of them before merging"}
	}
	var err error
	if out.MemberID, err = pick("member_id", into.MemberID, from.MemberID); err != nil {
		return Contact{}, err
	}
	phone, err := pick("phone", string(into.Phone), string(from.Phone))
	if err != nil {
		return Contact{}, err
	}
	email, err := pick("email", string(into.Email), string(from.Email))
	if err != nil {
		return Contact{}, err
	}
	out.Phone, out.Email = Phone(phone), Email(email)
	fill := func(dst *string, src string) {
		if *dst == "" {
			*dst = src
		}
	}
	fill(&out.FirstName, from.FirstName)
	fill(&out.LastName, from.LastName)
	fill(&out.TimeZone, from.TimeZone)
	fill(&out.Language, from.Language)
	out.Tags = NormalizeTags(append(append([]string{}, into.Tags...), from.Tags...))
	out.Attributes = make(map[string]string, len(into.Attributes)+len(from.Attributes))
	for k, v := range from.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range into.Attributes {
		out.Attributes[k] = v
	}
	return out, nil
}
