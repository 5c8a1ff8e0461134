package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// Saved replies: an admin writes them (title and text) on
// /admin/saved-replies or through /api/saved-replies; organizers pick one
// in the inbox, which fills the reply box for them to edit before
// sending.

type savedRepliesView struct {
	Replies []store.SavedReply
	// Draft is the new reply's form as typed, kept when it was refused;
	// EditID names the saved reply whose form was refused, Edit its form.
	Draft  store.SavedReply
	EditID string
	Edit   store.SavedReply
	Error  string
	Notice string
}

func (s *Server) renderSavedReplies(w http.ResponseWriter, r *http.Request, status int, v savedRepliesView) {
	list, err := s.Store.SavedReplies(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Replies = list
	if v.Notice == "" {
		switch r.URL.Query().Get("notice") {
		case "created":
			v.Notice = "Saved. Organizers can pick it in the inbox."
		case "changed":
			v.Notice = "Changed."
		case "deleted":
			v.Notice = "Deleted."
		}
	}
	s.render(w, r, status, "savedreplies", "Saved replies", v)
}

func (s *Server) savedRepliesPage(w http.ResponseWriter, r *http.Request) {
	s.renderSavedReplies(w, r, http.StatusOK, savedRepliesView{})
}

// savedFailed shows a refused form again with what was typed; anything
// but bad input is an error page.
func (s *Server) savedFailed(w http.ResponseWriter, r *http.Request, err error, v savedRepliesView) {
	switch apperr.KindOf(err) {
	case apperr.KindInvalid, apperr.KindConflict:
		v.Error = err.Error()
		s.renderSavedReplies(w, r, http.StatusUnprocessableEntity, v)
	default:
		s.failErr(w, r, err)
	}
}

func (s *Server) createSavedReply(w http.ResponseWriter, r *http.Request) {
	in := store.SavedReply{Title: r.PostFormValue("title"), Body: r.PostFormValue("body")}
	p := principalOf(r)
	out, err := s.Store.CreateSavedReply(r.Context(), in, p.ID)
	if err != nil {
		s.savedFailed(w, r, err, savedRepliesView{Draft: in})
		return
	}
	s.audit(r, p, "saved_reply.create", "saved reply "+out.ID, out.Title)
	http.Redirect(w, r, "/admin/saved-replies?notice=created", http.StatusSeeOther)
}

func (s *Server) updateSavedReply(w http.ResponseWriter, r *http.Request) {
	in := store.SavedReply{ID: chi.URLParam(r, "id"), Title: r.PostFormValue("title"), Body: r.PostFormValue("body")}
	out, err := s.Store.UpdateSavedReply(r.Context(), in)
	if err != nil {
		s.savedFailed(w, r, err, savedRepliesView{EditID: in.ID, Edit: in})
		return
	}
	s.audit(r, principalOf(r), "saved_reply.change", "saved reply "+out.ID, out.Title)
	http.Redirect(w, r, "/admin/saved-replies?notice=changed", http.StatusSeeOther)
}

func (s *Server) deleteSavedReply(w http.ResponseWriter, r *http.Request) {
	out, err := s.Store.DeleteSavedReply(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "saved_reply.delete", "saved reply "+out.ID, out.Title)
	http.Redirect(w, r, "/admin/saved-replies?notice=deleted", http.StatusSeeOther)
}

// savedReplyRequest is a saved reply as the API takes it.
type savedReplyRequest struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

func (s *Server) apiListSavedReplies(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.SavedReplies(r.Context())
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, map[string]any{"saved_replies": list})
}

func (s *Server) apiCreateSavedReply(w http.ResponseWriter, r *http.Request) {
	var req savedReplyRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	p := principalOf(r)
	out, err := s.Store.CreateSavedReply(r.Context(), store.SavedReply{Title: req.Title, Body: req.Body}, p.ID)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, p, "saved_reply.create", "saved reply "+out.ID, out.Title)
	web.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) apiUpdateSavedReply(w http.ResponseWriter, r *http.Request) {
	var req savedReplyRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	out, err := s.Store.UpdateSavedReply(r.Context(), store.SavedReply{ID: chi.URLParam(r, "id"), Title: req.Title, Body: req.Body})
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "saved_reply.change", "saved reply "+out.ID, out.Title)
	web.WriteJSON(w, http.StatusOK, out)
}

func (s *Server) apiDeleteSavedReply(w http.ResponseWriter, r *http.Request) {
	out, err := s.Store.DeleteSavedReply(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "saved_reply.delete", "saved reply "+out.ID, out.Title)
	w.WriteHeader(http.StatusNoContent)
}
