package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"
)

// eraseWord is what an admin types to confirm a member's erasure: their
// name, or their phone number or email when they have no name.
func eraseWord(c contact) string {
	if n := strings.TrimSpace(c.FirstName + " " + c.LastName); n != "" {
		return n
	}
	if c.Phone != "" {
		return c.Phone
	}
	return c.Email
}

// eraseContact erases a member (admins only, confirmed by typing their
// name): contacts removes them and tells campaigns and delivery
// (contact.erased); the console then forgets them in its own audit log
// and inbox read marks, and records who erased whom, with no personal
// data.
func (s *Server) eraseContact(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	id := chi.URLParam(r, "id")
	var c contact
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/contacts/"+url.PathEscape(id), nil, &c); err != nil {
		s.failErr(w, r, err)
		return
	}
	word := eraseWord(c)
	if !strings.EqualFold(strings.Join(strings.Fields(r.PostFormValue("confirm")), " "), word) {
		s.renderContact(w, r, http.StatusUnprocessableEntity, contactNotes{EraseError: "Type the member's name exactly as shown to erase them; nothing was erased."})
		return
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/"+url.PathEscape(c.ID)+"/erase", map[string]string{"by": p.Label}, nil); err != nil {
		s.failErr(w, r, err)
		return
	}
	terms := []string{c.Phone, strings.TrimPrefix(c.Phone, "+"), c.Email, strings.TrimSpace(c.FirstName + " " + c.LastName), c.FirstName, c.LastName}
	if err := s.Store.ForgetMember(r.Context(), c.ID, terms); err != nil {
		// The member is erased everywhere else; say so, and log it once.
		s.Log.Error("erased member still named in the console's audit log", zap.String("contact_id", c.ID), zap.Error(err))
	}
	s.audit(r, p, "contact.erase", "contact "+c.ID, "personal data erased")
	http.Redirect(w, r, "/contacts?done=erased", http.StatusSeeOther)
}
