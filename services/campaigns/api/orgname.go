package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/musterhq/muster/shared/web"
)

// OrgNames records the union's name (package orgname).
type OrgNames interface {
	Set(ctx context.Context, name, by string, at time.Time) (string, error)
}

// errNoOrgName is a handler built without a place to keep the name.
var errNoOrgName = errors.New("the organization's name cannot be kept here")

type orgNameBody struct {
	OrgName   string `json:"org_name"`
	UpdatedBy string `json:"updated_by"`
}

// getOrgName answers the name campaigns uses now.
func (h *Handler) getOrgName(w http.ResponseWriter, _ *http.Request) {
	web.WriteJSON(w, http.StatusOK, orgNameBody{OrgName: h.Settings.Name()})
}

// putOrgName records the name the admin set in the console.
func (h *Handler) putOrgName(w http.ResponseWriter, r *http.Request) {
	var body orgNameBody
	if err := web.DecodeJSON(r, &body); err != nil {
		web.WriteError(w, r, h.Log, err)
		return
	}
	if h.Org == nil {
		web.WriteError(w, r, h.Log, errNoOrgName)
		return
	}
	name, err := h.Org.Set(r.Context(), body.OrgName, body.UpdatedBy, h.Clock())
	if err != nil {
		web.WriteError(w, r, h.Log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, orgNameBody{OrgName: name, UpdatedBy: body.UpdatedBy})
}
