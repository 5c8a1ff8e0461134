package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The JSON API passes the services' answers through unchanged; the
// console adds authentication, roles and the audit log. openapi.json
// describes every route here, and a test holds the two together.

func (s *Server) apiListCampaigns(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Campaigns, http.MethodGet, "/campaigns", nil)
}

func (s *Server) apiGetCampaign(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Campaigns, http.MethodGet, "/campaigns/"+url.PathEscape(chi.URLParam(r, "id")), nil)
}

func (s *Server) apiCampaignResults(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Campaigns, http.MethodGet, "/campaigns/"+url.PathEscape(chi.URLParam(r, "id"))+"/results", nil)
}

func (s *Server) apiListContacts(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, "/contacts?"+filterQuery(r.URL.Query()).Encode(), nil)
}

// readJSONBody reads an optional JSON body, checking it is one JSON value
// before it is passed on.
func readJSONBody(r *http.Request) ([]byte, error) {
	web.LimitBody(r, web.MaxJSONBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, web.ReadError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, apperr.Invalid("body", "not valid JSON")
	}
	return raw, nil
}

func (s *Server) apiCreateCampaign(w http.ResponseWriter, r *http.Request) {
	raw, err := readJSONBody(r)
	if err == nil && raw == nil {
		err = apperr.Invalid("body", "send the campaign as JSON")
	}
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	var c campaign
	resp, err := s.Services.Campaigns.Raw(r.Context(), http.MethodPost, "/campaigns", bytes.NewReader(raw), "application/json")
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &c)
	s.audit(r, principalOf(r), "campaign.create", "campaign "+c.ID, c.Name)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// apiCampaignAction launches, pauses, resumes or cancels, recording who
// did it once the service has accepted.
func (s *Server) apiCampaignAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		raw, err := readJSONBody(r)
		if err != nil {
			s.writeJSONError(w, r, err)
			return
		}
		var body io.Reader
		if raw != nil {
			body = bytes.NewReader(raw)
		}
		resp, err := s.Services.Campaigns.Raw(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/"+action, body, "application/json")
		if err != nil {
			s.writeJSONError(w, r, err)
			return
		}
		defer resp.Body.Close()
		s.audit(r, principalOf(r), "campaign."+action, "campaign "+id, string(raw))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
}
