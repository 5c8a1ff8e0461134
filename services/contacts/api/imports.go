package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/contacts/importer"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// importOptions are the options of POST /imports, from the query string
// or, in a multipart upload, an "options" part holding them as JSON (or
// parts named like the query parameters).
//
// assignees (the console's accounts members may be assigned to, a JSON
// list of {"id", "name", "first_name", "email"}, which an assignee column
// is read against) and by (who runs the import, for the assignment
// history) come from the query string only: the console sets them, and
// passes a multipart form on as its caller sent it, so a part of those
// names is refused.
type importOptions struct {
	DryRun    bool               `json:"dry_run"`
	Source    string             `json:"source"`
	Mapping   map[string]string  `json:"mapping"`
	Assignees []importer.Account `json:"-"`
	By        string             `json:"-"`
}

func (o *importOptions) set(name, value string) error {
	switch name {
	case "dry_run":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return apperr.Invalid("dry_run", "want true or false, got %q", value)
		}
		o.DryRun = b
	case "source":
		o.Source = value
	case "mapping":
		if err := json.Unmarshal([]byte(value), &o.Mapping); err != nil {
			return apperr.Invalid("mapping", "want a JSON object of column header to field, such as {\"Cell\": \"phone\"}")
		}
	case "assignees":
		o.Assignees = []importer.Account{}
		if err := json.Unmarshal([]byte(value), &o.Assignees); err != nil {
			return apperr.Invalid("assignees", "want a JSON list of {\"id\", \"name\", \"first_name\", \"email\"}")
		}
	case "by":
		o.By = strings.TrimSpace(value)
	case "options":
		dec := json.NewDecoder(strings.NewReader(value))
		dec.DisallowUnknownFields()
		var more importOptions
		if err := dec.Decode(&more); err != nil {
			return apperr.Invalid("options", "want JSON with dry_run, source and mapping: %v", err)
		}
		o.DryRun = o.DryRun || more.DryRun
		if more.Source != "" {
			o.Source = more.Source
		}
		if more.Mapping != nil {
			o.Mapping = more.Mapping
		}
	}
	return nil
}

// createImport accepts a CSV file as the request body (or as the part
// "file" of a multipart form), stores it, checks its header and answers
// 202 with the import, which runs in the background; GET /imports/{id}
// shows its progress. A file that cannot be imported at all (empty,
// binary, a header and nothing more, no phone or email column, a bad
// mapping) is a 400 at once.
func (h *Handler) createImport(w http.ResponseWriter, r *http.Request) {
	// Big files take longer to send than the server's read timeout, and
	// the answer comes after the file.
	if err := web.AllowUpload(w, 30*time.Minute); err != nil {
		h.log.Warn("upload deadline not extended", zap.Error(err))
	}
	var opts importOptions
	for _, name := range []string{"dry_run", "source", "mapping", "options", "assignees", "by"} {
		if v := r.URL.Query().Get(name); v != "" {
			if err := opts.set(name, v); err != nil {
				web.WriteError(w, r, h.log, err)
				return
			}
		}
	}
	var upload *importer.Upload
	defer func() {
		if upload != nil {
			upload.Discard()
		}
	}()
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			web.WriteError(w, r, h.log, apperr.Invalid("body", "unreadable multipart form: %v", err))
			return
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				web.WriteError(w, r, h.log, apperr.Invalid("body", "unreadable multipart form: %v", err))
				return
			}
			switch name := part.FormName(); name {
			case "file":
				if upload != nil {
					web.WriteError(w, r, h.log, apperr.Invalid("file", "send one file per import"))
					return
				}
				if upload, err = h.imports.Receive(part); err != nil {
					web.WriteError(w, r, h.log, err)
					return
				}
				if opts.Source == "" {
					opts.Source = part.FileName()
				}
			case "assignees", "by":
				web.WriteError(w, r, h.log, apperr.Invalid(name, "comes from the console, not from the form"))
				return
			default:
				value, err := io.ReadAll(io.LimitReader(part, web.MaxJSONBody))
				if err == nil {
					err = opts.set(name, string(value))
				}
				if err != nil {
					web.WriteError(w, r, h.log, err)
					return
				}
			}
		}
		if upload == nil {
			web.WriteError(w, r, h.log, apperr.Invalid("file", "the form has no part named file"))
			return
		}
	} else {
		var err error
		if upload, err = h.imports.Receive(r.Body); err != nil {
			web.WriteError(w, r, h.log, err)
			return
		}
	}
	imp, err := h.imports.Start(r.Context(), upload, importer.Request{Source: opts.Source, DryRun: opts.DryRun, Mapping: opts.Mapping,
		Assignees: opts.Assignees, By: opts.By})
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	upload = nil // the runner owns the file now
	w.Header().Set("Location", "/imports/"+imp.ID)
	web.WriteJSON(w, http.StatusAccepted, imp)
}

func (h *Handler) getImport(w http.ResponseWriter, r *http.Request) {
	imp, err := h.store.GetImport(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, imp)
}

// importReport streams one kind of an import's report as CSV: the rows it
// rejected (errors.csv) or merged (merges.csv), by the physical line each
// row starts on.
func (h *Handler) importReport(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		imp, err := h.store.GetImport(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			web.WriteError(w, r, h.log, err)
			return
		}
		name := "errors"
		header := []string{"line", "column", "reason"}
		if kind == store.IssueMerged {
			name, header = "merges", []string{"line", "column", "note", "contact_id"}
		}
		out := startCSV(w, "import-"+imp.ID[:8]+"-"+name+".csv")
		err = out.row(header...)
		if err == nil {
			err = h.store.EachImportIssue(r.Context(), imp.ID, kind, func(is store.ImportIssue) error {
				cells := []string{strconv.FormatInt(is.Line, 10), is.Column, is.Reason}
				if kind == store.IssueMerged {
					cells = append(cells, is.ContactID)
				}
				return out.row(cells...)
			})
		}
		out.finish(r, h.log, err)
	}
}
