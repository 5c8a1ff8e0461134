package server

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/plain"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Editing one member from their page: their details through contacts'
// PATCH /contacts/{id} (consent is not a field: it has its own actions),
// and one tag at a time. Each change is in the audit log under the
// contact, which their page lists.

// contactAttr is one attribute on the edit form.
type contactAttr struct{ Key, Value string }

// contactEditForm is the edit page's fields, as typed.
type contactEditForm struct {
	FirstName, LastName, Phone, Email, Language string
	Worksite, Shift                             string
	// Attrs are the member's other attributes; NewKey and NewValue add one.
	Attrs            []contactAttr
	NewKey, NewValue string
}

func contactEditFormOf(c contact) contactEditForm {
	f := contactEditForm{FirstName: c.FirstName, LastName: c.LastName, Phone: c.Phone, Email: c.Email, Language: c.Language,
		Worksite: c.Attributes["worksite"], Shift: c.Attributes["shift"]}
	for k, v := range c.Attributes {
		if k != "worksite" && k != "shift" {
			f.Attrs = append(f.Attrs, contactAttr{k, v})
		}
	}
	sort.Slice(f.Attrs, func(i, j int) bool { return f.Attrs[i].Key < f.Attrs[j].Key })
	return f
}

// contactEditFormFrom reads the posted form; the other attributes come
// back as attr_key_N / attr_value_N in the order the page drew them.
func contactEditFormFrom(r *http.Request) contactEditForm {
	get := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := contactEditForm{FirstName: get("first_name"), LastName: get("last_name"), Phone: get("phone"), Email: get("email"),
		Language: get("language"), Worksite: get("worksite"), Shift: get("shift"), NewKey: get("new_key"), NewValue: get("new_value")}
	keys, values := r.PostForm["attr_key"], r.PostForm["attr_value"]
	for i, k := range keys {
		v := ""
		if i < len(values) {
			v = strings.TrimSpace(values[i])
		}
		f.Attrs = append(f.Attrs, contactAttr{k, v})
	}
	return f
}

// patch is contacts' PATCH body taking the member from was to f, and the
// names of the fields it changes (for the audit log, which names fields,
// never values). An attribute emptied is removed.
func (f contactEditForm) patch(was contact) (map[string]any, []string, error) {
	body := map[string]any{}
	var changed []string
	set := func(name, now, before string) {
		if now != before {
			body[name] = now
			changed = append(changed, strings.ReplaceAll(name, "_", " "))
		}
	}
	set("first_name", f.FirstName, was.FirstName)
	set("last_name", f.LastName, was.LastName)
	set("phone", f.Phone, was.Phone)
	set("email", f.Email, was.Email)
	set("language", f.Language, was.Language)
	attrs := map[string]any{}
	setAttr := func(key, now string) {
		if now == was.Attributes[key] {
			return
		}
		if now == "" {
			attrs[key] = nil
		} else {
			attrs[key] = now
		}
		changed = append(changed, strings.ReplaceAll(key, "_", " "))
	}
	setAttr("worksite", f.Worksite)
	setAttr("shift", f.Shift)
	for _, a := range f.Attrs {
		if _, ok := was.Attributes[a.Key]; ok && a.Key != "worksite" && a.Key != "shift" {
			setAttr(a.Key, a.Value)
		}
	}
	if f.NewKey != "" || f.NewValue != "" {
		if err := checkAttrName(f.NewKey); err != nil {
			return nil, nil, apperr.Invalid("new_key", "%v", err)
		}
		if f.NewValue == "" {
			return nil, nil, apperr.Invalid("new_value", "give %s a value, or leave both empty", f.NewKey)
		}
		if _, ok := attrs[f.NewKey]; ok {
			return nil, nil, apperr.Invalid("new_key", "%s is already on the form above", f.NewKey)
		}
		attrs[f.NewKey] = f.NewValue
		changed = append(changed, f.NewKey)
	}
	if len(attrs) > 0 {
		body["attributes"] = attrs
	}
	return body, changed, nil
}

type contactEditView struct {
	Contact contact
	Form    contactEditForm
	Error   string
	// Field is the field the error is about.
	Field string
}

// Invalid reports whether name is the field to fix.
func (v contactEditView) Invalid(name string) bool {
	return v.Field == name || (name == "attributes" && strings.HasPrefix(v.Field, "attributes"))
}

func (s *Server) getContact(r *http.Request) (contact, error) {
	var c contact
	err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/contacts/"+url.PathEscape(chi.URLParam(r, "id")), nil, &c)
	return c, err
}

func (s *Server) editContactPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.getContact(r)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "contact_edit", "Edit "+c.name(), contactEditView{Contact: c, Form: contactEditFormOf(c)})
}

// editContact saves the edit form through contacts. What contacts
// refuses (a phone it cannot read, one another member has) is shown on
// the form with everything as typed.
func (s *Server) editContact(w http.ResponseWriter, r *http.Request) {
	c, err := s.getContact(r)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	f := contactEditFormFrom(r)
	body, changed, err := f.patch(c)
	if err == nil && len(changed) > 0 {
		err = s.Services.Contacts.JSON(r.Context(), http.MethodPatch, "/contacts/"+url.PathEscape(c.ID), body, nil)
	}
	if err != nil {
		switch apperr.KindOf(err) {
		case apperr.KindInvalid, apperr.KindConflict:
			v := contactEditView{Contact: c, Form: f, Error: err.Error(), Field: apperr.FieldOf(err)}
			s.render(w, r, web.StatusOf(err), "contact_edit", "Edit "+c.name(), v)
		default:
			s.failErr(w, r, err)
		}
		return
	}
	if len(changed) > 0 {
		s.audit(r, principalOf(r), "contact.update", "contact "+c.ID, "changed "+strings.Join(changed, ", "))
	}
	http.Redirect(w, r, "/contacts/"+url.PathEscape(c.ID)+"?done=saved", http.StatusSeeOther)
}

// tagContact adds or removes one tag on one member (contacts changes it
// under the contact's lock, so no other tag is lost).
func (s *Server) tagContact(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	tag := strings.ToLower(strings.TrimSpace(r.PostFormValue("tag")))
	op := r.PostFormValue("op")
	var err error
	switch {
	case op != "add" && op != "remove":
		err = apperr.Invalid("op", "choose to add or remove the tag")
	case tag == "":
		err = apperr.Invalid("tag", "name the tag to %s", op)
	case len(tag) > maxAudienceTag:
		err = apperr.Invalid("tag", "a tag is at most %d characters", maxAudienceTag)
	default:
		err = s.Services.Contacts.JSON(r.Context(), http.MethodPatch, "/contacts/"+url.PathEscape(id), map[string]any{op + "_tags": []string{tag}}, nil)
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderContact(w, r, http.StatusBadRequest, contactNotes{TagError: err.Error(), Tag: tag})
			return
		}
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "contact.tag", "contact "+id, op+" tag "+tag)
	done := "tag-added"
	if op == "remove" {
		done = "tag-removed"
	}
	http.Redirect(w, r, "/contacts/"+url.PathEscape(id)+"?done="+done+"&tag="+url.QueryEscape(tag), http.StatusSeeOther)
}

// contactNotes are what the member's page says after an action.
type contactNotes struct {
	Notice   string
	TagError string
	// AssignError says why an assignment was refused.
	AssignError string
	// Tag is the tag as typed when it was refused.
	Tag string
	// RatingError says why a rating was refused; RatingNote keeps the
	// note as typed.
	RatingError string
	RatingNote  string
	// EraseError says why an erasure was refused.
	EraseError string
}

func noticeOfContact(q url.Values) string {
	switch q.Get("done") {
	case "saved":
		return "Details saved."
	case "tag-added":
		return "Tag " + q.Get("tag") + " added."
	case "tag-removed":
		return "Tag " + q.Get("tag") + " removed."
	case "assigned":
		return "Assigned to " + q.Get("to") + "."
	case "rated":
		n, _ := strconv.Atoi(q.Get("rating"))
		return "Rated " + plain.SupportLevel(n) + "."
	}
	return ""
}

// name is how the console calls a member.
func (c contact) name() string {
	if n := strings.TrimSpace(c.FirstName + " " + c.LastName); n != "" {
		return n
	}
	return "Member"
}
