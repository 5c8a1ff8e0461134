package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/web"
)

type eraseRequest struct {
	// By is who erases: the admin's id in the console, or "operator".
	By string `json:"by"`
}

// erase (POST /contacts/{id}/erase, body {"by": who}) is for an admin:
// the console allows it to admins alone, after they typed the member's
// name, and an operator's CLI (caller "operator") may call it too. Like
// every contacts route it needs a trusted caller's token.
//
// It removes a member's personal data from contacts and queues
// contact.erased for campaigns and delivery (store.Erase). Erasing an
// erased contact answers 200 with already set, doing nothing again.
func (h *Handler) erase(w http.ResponseWriter, r *http.Request) {
	caller := svcauth.Caller(r.Context())
	var req eraseRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	by := req.By
	if caller == "operator" && by == "" {
		by = "operator"
	}
	out, err := h.store.Erase(r.Context(), chi.URLParam(r, "id"), by)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if !out.Already {
		h.queued()
		h.log.Info("member erased", zap.String("contact_id", out.ContactID), zap.String("erased_by", out.ErasedBy), zap.String("caller", caller))
	}
	web.WriteJSON(w, http.StatusOK, out)
}
