package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The member list through the API: contacts, their consent, imports and
// the two exports. Viewers read a page at a time; a whole file of member
// data (the contacts export, the consent ledger, an import's reports,
// which quote the rows they refused) needs the organizer role and is
// audited, like every change.

// contactQuery are contacts' list and export filters, passed on as given.
func contactQuery() []string {
	return []string{"q", "tag", "sms_consent", "email_consent", "has_phone", "has_email", "language", "member_id", "assignee_id",
		"worksite", "employer", "department", "role", "shift", "filter", "sort", "rating", "rating_max", "rating_min"}
}

func contactPath(r *http.Request, rest string) string {
	return "/contacts/" + url.PathEscape(chi.URLParam(r, "id")) + rest
}

func (s *Server) apiListContacts(w http.ResponseWriter, r *http.Request) {
	if p := principalOf(r); isSteward(p) {
		// A steward's list is their own members, whatever else it asks.
		q := r.URL.Query()
		q.Set("assignee_id", p.ID)
		r.URL.RawQuery = q.Encode()
	}
	s.list(w, r, s.Services.Contacts, "/contacts", listing{Name: "contacts", After: "cursor", Pass: contactQuery()})
}

func (s *Server) apiGetContact(w http.ResponseWriter, r *http.Request) {
	if err := s.checkMember(r.Context(), principalOf(r), chi.URLParam(r, "id")); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, contactPath(r, ""), nil)
}

func (s *Server) apiCreateContact(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Contacts, http.MethodPost, "/contacts", bodyNeeded, func(_, answer []byte) {
		s.audit(r, principalOf(r), "contact.create", "contact "+idOf(answer, "id"), "")
	})
}

// apiUpdateContact edits some fields; the audit entry names the fields,
// not their values.
func (s *Server) apiUpdateContact(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Contacts, http.MethodPatch, contactPath(r, ""), bodyNeeded, func(req, _ []byte) {
		s.audit(r, principalOf(r), "contact.update", "contact "+chi.URLParam(r, "id"), fieldsOf(req))
	})
}

func (s *Server) apiMergeContact(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Contacts, http.MethodPost, contactPath(r, "/merge"), bodyNeeded, func(req, _ []byte) {
		s.audit(r, principalOf(r), "contact.merge", "contact "+chi.URLParam(r, "id"), "merged in contact "+idOf(req, "from"))
	})
}

// apiTagContacts adds and removes tags on everyone a filter selects.
// contacts requires the filter ({"all": []} is everyone, said outright).
func (s *Server) apiTagContacts(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Contacts, http.MethodPost, "/contacts/tags", bodyNeeded, func(req, answer []byte) {
		var in struct {
			Filter json.RawMessage `json:"filter"`
			Add    []string        `json:"add"`
			Remove []string        `json:"remove"`
		}
		var out struct {
			Changed int64 `json:"changed"`
		}
		_ = json.Unmarshal(req, &in)
		_ = json.Unmarshal(answer, &out)
		s.audit(r, principalOf(r), "contacts.tag", "contacts matching "+clip(string(in.Filter), 200),
			fmt.Sprintf("add %q, remove %q on %d contacts", in.Add, in.Remove, out.Changed))
	})
}

// apiCountAudience sizes an audience per channel while an organizer
// composes; it changes nothing.
func (s *Server) apiCountAudience(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Contacts, http.MethodPost, "/audiences/count", bodyOptional, nil)
}

func (s *Server) apiConsentHistory(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, contactPath(r, "/consent"), nil)
}

// consentChange is an organizer's opt-out or opt-in through the API. Who
// made it is the caller, never a name in the body: the ledger's evidence
// must not be forgeable.
type consentChange struct {
	Channel string `json:"channel"`
	Reason  string `json:"reason"`
}

// apiChangeConsent records an opt-out (or lifts one an organizer or an
// import made: only the member lifts their own STOP, and contacts says 409).
func (s *Server) apiChangeConsent(change string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req consentChange
		if err := web.DecodeJSON(r, &req); err != nil {
			s.writeJSONError(w, r, err)
			return
		}
		p := principalOf(r)
		body := map[string]string{"channel": req.Channel, "actor": p.Label, "reason": strings.TrimSpace(req.Reason)}
		var out json.RawMessage
		if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, contactPath(r, "/"+change), body, &out); err != nil {
			s.writeJSONError(w, r, err)
			return
		}
		s.audit(r, p, "consent."+strings.ReplaceAll(change, "-", "_"), "contact "+chi.URLParam(r, "id"), req.Channel+": "+body["reason"])
		web.WriteJSON(w, http.StatusOK, out)
	}
}

// apiExportContacts streams everyone a filter selects as CSV.
func (s *Server) apiExportContacts(w http.ResponseWriter, r *http.Request) {
	q := url.Values{}
	for _, k := range contactQuery() {
		for _, v := range r.URL.Query()[k] {
			if v != "" {
				q.Add(k, v)
			}
		}
	}
	s.download(w, r, s.Services.Contacts, "/contacts/export.csv?"+q.Encode(), "contacts.export", "contacts", q.Encode())
}

func (s *Server) apiExportConsent(w http.ResponseWriter, r *http.Request) {
	s.download(w, r, s.Services.Contacts, "/consent/export.csv", "consent.export", "consent ledger", "")
}

// apiStartImport streams a CSV upload (the body, as text/csv, or a
// multipart form with a part named file) to contacts' import and answers
// 202 with the import; GET /api/imports/{id} follows it. Options come in
// the query (dry_run, source, mapping) or, in a multipart form, as parts.
func (s *Server) apiStartImport(w http.ResponseWriter, r *http.Request) {
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt != "text/csv" && mt != "multipart/form-data" {
		s.writeJSONError(w, r, apperr.Invalid("Content-Type", "send the file as text/csv, or as the part file of a multipart/form-data form"))
		return
	}
	release, ok := s.slot(w, r, s.Uploads, "imports")
	if !ok {
		return
	}
	defer release()
	q := url.Values{}
	for _, k := range []string{"dry_run", "source", "mapping"} {
		if v := r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	if err := s.importDirectory(r, q); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	body := &watchedReader{r: r.Body}
	resp, err := s.Services.Contacts.Raw(r.Context(), http.MethodPost, "/imports?"+q.Encode(), body, ct)
	if tooBig := (*http.MaxBytesError)(nil); errors.As(body.err, &tooBig) {
		// The upload outgrew CONSOLE_MAX_UPLOAD on its way through.
		err = apperr.TooLarge("body", "the file is larger than %d bytes", tooBig.Limit)
	}
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		s.writeJSONError(w, r, fmt.Errorf("reading contacts' answer to an import: %w", err))
		return
	}
	id := idOf(answer, "id")
	s.audit(r, principalOf(r), "contacts.import", "import "+id, idOf(answer, "source"))
	w.Header().Set("Location", "/api/imports/"+url.PathEscape(id))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

func importPath(r *http.Request, rest string) string {
	return "/imports/" + url.PathEscape(chi.URLParam(r, "id")) + rest
}

func (s *Server) apiGetImport(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, importPath(r, ""), nil)
}

// apiImportReport streams one of an import's reports: the rows it refused
// (errors) or merged (merges), by line.
func (s *Server) apiImportReport(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.download(w, r, s.Services.Contacts, importPath(r, "/"+name+".csv"), "import."+name, "import "+chi.URLParam(r, "id"), "")
	}
}
