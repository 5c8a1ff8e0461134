package server

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
)

// contact is the part of contacts' contact the console shows.
type contact struct {
	ID         string            `json:"id"`
	MemberID   string            `json:"member_id"`
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Phone      string            `json:"phone"`
	Email      string            `json:"email"`
	Language   string            `json:"language"`
	TimeZone   string            `json:"time_zone"`
	Tags       []string          `json:"tags"`
	Attributes map[string]string `json:"attributes"`
	// AssigneeID and AssigneeName are who the member is assigned to.
	AssigneeID   string `json:"assignee_id"`
	AssigneeName string `json:"assignee_name"`
	// Rhythm is the member's own choice of when and how often to be
	// texted (GET /contacts/{id} only).
	Rhythm memberRhythm `json:"rhythm"`
	// Rating is the member's latest support rating, nil while unassessed.
	Rating *rating `json:"rating"`
}

type contactsView struct {
	Q, Tag, Consent string
	// Worksite and Assignee are the list's other filters; Assignees who
	// members may be assigned to (for organizers); Steward says the list
	// is the caller's own members.
	Worksite, Assignee string
	Assignees          []assignee
	Steward            bool
	// Support is the support filter chosen (supportQuery).
	Support  string
	Contacts []contact
	Next     string
	// Tagged reports a bulk tag change; Error a refused one.
	Tagged string
	Error  string
	// Tags are the tags in use, suggested in the tag fields. The list
	// and a member's page leave them to the script, which asks as the
	// organizer types: counting every tag on every page view would cost
	// a pass over the whole member list.
	Tags []tagCount
}

// contactFilters are the list filters the console offers and passes on to
// contacts' GET /contacts.
func contactFilters() []string {
	return []string{"q", "tag", "sms_consent", "worksite", "employer", "cursor", "limit", "has_phone", "has_email", "assignee_id"}
}

func filterQuery(in url.Values) url.Values {
	out := url.Values{}
	for _, k := range contactFilters() {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

func (s *Server) contactsPage(w http.ResponseWriter, r *http.Request) {
	s.renderContacts(w, r, http.StatusOK, r.URL.Query(), "", "")
}

func (s *Server) renderContacts(w http.ResponseWriter, r *http.Request, status int, query url.Values, tagged, problem string) {
	q := filterQuery(query)
	support := strings.TrimSpace(query.Get("support"))
	sq, err := supportQuery(support)
	if err != nil {
		support, problem = "", err.Error()
	}
	for k, v := range sq {
		q[k] = v
	}
	p := principalOf(r)
	if isSteward(p) {
		q.Set("assignee_id", p.ID)
	}
	if q.Get("limit") == "" {
		q.Set("limit", "50")
	}
	var out struct {
		Contacts []contact `json:"contacts"`
		Next     string    `json:"next"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/contacts?"+q.Encode(), nil, &out); err != nil {
		s.failErr(w, r, err)
		return
	}
	v := contactsView{Q: q.Get("q"), Tag: q.Get("tag"), Consent: q.Get("sms_consent"), Support: support, Worksite: q.Get("worksite"),
		Assignee: q.Get("assignee_id"), Contacts: out.Contacts, Tagged: tagged, Error: problem, Steward: isSteward(p)}
	if !isSteward(p) && p.Role.Allows(account.RoleOrganizer) {
		list, err := s.assignees(r.Context())
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		v.Assignees = list
	}
	if out.Next != "" {
		for k := range sq {
			q.Del(k)
		}
		if support != "" {
			q.Set("support", support)
		}
		q.Set("cursor", out.Next)
		v.Next = "/contacts?" + q.Encode()
	}
	s.render(w, r, status, "contacts", "Contacts", v)
}

// bulkTag adds or removes a tag on everyone the search's tag and text
// consent select, through contacts' POST /contacts/tags. A name search is
// not a filter contacts can apply in bulk, so it is refused rather than
// widened to everyone.
func (s *Server) bulkTag(w http.ResponseWriter, r *http.Request) {
	form := url.Values{"tag": {r.PostFormValue("tag")}, "sms_consent": {r.PostFormValue("sms_consent")}, "q": {r.PostFormValue("q")}}
	label := strings.ToLower(strings.TrimSpace(r.PostFormValue("label")))
	op := r.PostFormValue("op")
	var problem string
	switch {
	case strings.TrimSpace(form.Get("q")) != "":
		problem = "Tagging in bulk works on a tag or text-consent filter, not a name search: clear the name first."
	case strings.TrimSpace(form.Get("tag")) == "" && form.Get("sms_consent") == "":
		problem = "Filter by a tag or text consent first: tagging everyone at once is not offered here."
	case label == "" || (op != "add" && op != "remove"):
		problem = "Name the tag to add or remove."
	}
	if problem != "" {
		s.renderContacts(w, r, http.StatusBadRequest, form, "", problem)
		return
	}
	var leaves []map[string]any
	if t := strings.TrimSpace(form.Get("tag")); t != "" {
		leaves = append(leaves, map[string]any{"tag": t})
	}
	if c := form.Get("sms_consent"); c != "" {
		leaves = append(leaves, map[string]any{"consent": map[string]string{"channel": "sms", "status": c}})
	}
	body := map[string]any{"filter": map[string]any{"all": leaves}}
	body[op] = []string{label}
	var out struct {
		Changed int `json:"changed"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/tags", body, &out); err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			s.renderContacts(w, r, http.StatusBadRequest, form, "", err.Error())
			return
		}
		s.failErr(w, r, err)
		return
	}
	p := principalOf(r)
	s.audit(r, p, "contacts.tag."+op, "contacts tagged "+form.Get("tag"), fmt.Sprintf("%s %q on %d contacts", op, label, out.Changed))
	s.renderContacts(w, r, http.StatusOK, form, fmt.Sprintf("%s %q: %d contacts changed.", op, label, out.Changed), "")
}

type consentEntry struct {
	Channel    string `json:"channel"`
	Address    string `json:"address"`
	Change     string `json:"change"`
	Status     string `json:"status"`
	Source     string `json:"source"`
	Evidence   string `json:"evidence"`
	Reason     string `json:"reason"`
	OccurredAt string `json:"occurred_at"`
	ChangedAt  string `json:"changed_at"`
}

type turn struct {
	Direction  string `json:"direction"`
	Body       string `json:"body"`
	Status     string `json:"status"`
	Keyword    string `json:"keyword"`
	CampaignID string `json:"campaign_id"`
	At         string `json:"at"`
}

type contactView struct {
	Contact contact
	// EraseWord is what an admin types to erase the member.
	EraseWord string
	// Ratings are the member's support ratings, newest first;
	// RatingsError says why they could not be shown, without failing the
	// page.
	Ratings      []rating
	RatingsError string
	Current      []consentEntry
	History      []consentEntry
	Turns        []turn
	// Rhythm says the member's own rhythm in plain words; RhythmHistory
	// lists its changes, newest first.
	Rhythm        []rhythmLine
	RhythmHistory []rhythmHistoryRow
	// ConversationError says why the conversation could not be shown
	// (delivery down) without failing the whole page.
	ConversationError string
	// Notes say what an action did or why it was refused; Tags are the
	// tags in use to suggest; Changes are organizers' changes to the
	// member, newest first, from the audit log.
	Notes   contactNotes
	Tags    []tagCount
	Changes []store.AuditEntry
	// Polls are the member's poll answers, changes included.
	Polls *memberPolls
	// Assignees are who the member may be assigned to (organizers only).
	Assignees []assignee
}

func (s *Server) contactPage(w http.ResponseWriter, r *http.Request) {
	s.renderContact(w, r, http.StatusOK, contactNotes{Notice: noticeOfContact(r.URL.Query())})
}

func (s *Server) renderContact(w http.ResponseWriter, r *http.Request, status int, notes contactNotes) {
	if err := s.checkMember(r.Context(), principalOf(r), chi.URLParam(r, "id")); err != nil {
		s.failErr(w, r, err)
		return
	}
	id := url.PathEscape(chi.URLParam(r, "id"))
	v := contactView{Notes: notes}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/contacts/"+id, nil, &v.Contact); err != nil {
		s.failErr(w, r, err)
		return
	}
	var consent struct {
		Current []consentEntry `json:"current"`
		History []consentEntry `json:"history"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/contacts/"+id+"/consent", nil, &consent); err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Current, v.History = consent.Current, consent.History
	var ratings struct {
		Ratings []rating `json:"ratings"`
	}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/contacts/"+id+"/ratings?limit=20", nil, &ratings); err != nil {
		v.RatingsError = "The rating history could not be loaded: " + err.Error()
	}
	v.Ratings = ratings.Ratings
	v.Rhythm, v.RhythmHistory = rhythmWords(v.Contact.Rhythm, v.Contact.TimeZone)
	v.EraseWord = eraseWord(v.Contact)
	if v.Contact.Phone != "" {
		var conv struct {
			Turns []turn `json:"turns"`
		}
		err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/conversations/sms/"+url.PathEscape(v.Contact.Phone)+"?limit=100", nil, &conv)
		if err != nil {
			v.ConversationError = "The conversation could not be loaded: " + err.Error()
		}
		v.Turns = conv.Turns
	}
	changes, err := s.Store.AuditOf(r.Context(), "contact "+v.Contact.ID, 20)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Changes = changes
	v.Polls = s.memberPolls(r.Context(), v.Contact.ID)
	if principalOf(r).Role.Allows(account.RoleOrganizer) {
		if v.Assignees, err = s.assignees(r.Context()); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	s.render(w, r, status, "contact", v.Contact.name(), v)
}

// changeConsent records an organizer's opt-out or opt-in for a contact
// (contacts keeps the ledger and tells delivery).
func (s *Server) changeConsent(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	id := chi.URLParam(r, "id")
	change := r.PostFormValue("change")
	if change != "opt-out" && change != "opt-in" {
		s.failErr(w, r, apperr.Invalid("change", "want opt-out or opt-in"))
		return
	}
	ch := r.PostFormValue("channel")
	body := map[string]string{"channel": ch, "actor": p.Label, "reason": strings.TrimSpace(r.PostFormValue("reason"))}
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodPost, "/contacts/"+url.PathEscape(id)+"/"+change, body, nil); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, p, "consent."+strings.ReplaceAll(change, "-", "_"), "contact "+id, ch+": "+body["reason"])
	http.Redirect(w, r, "/contacts/"+url.PathEscape(id), http.StatusSeeOther)
}

func (s *Server) importForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "import", "Import contacts", nil)
}

// importUpload sends the uploaded CSV on to contacts' POST /imports as
// the request body and shows the import's progress page.
func (s *Server) importUpload(w http.ResponseWriter, r *http.Request) {
	release, ok := s.slot(w, r, s.Uploads, "imports")
	if !ok {
		return
	}
	defer release()
	f, hdr, err := r.FormFile("file")
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.failErr(w, r, apperr.Invalid("file", "the file is larger than %d bytes", tooBig.Limit))
			return
		}
		s.failErr(w, r, apperr.Invalid("file", "choose a CSV file to upload"))
		return
	}
	defer f.Close()
	q := url.Values{"source": {hdr.Filename}}
	if r.PostFormValue("dry_run") != "" {
		q.Set("dry_run", "true")
	}
	if err := s.importDirectory(r, q); err != nil {
		s.failErr(w, r, err)
		return
	}
	resp, err := s.Services.Contacts.Raw(r.Context(), http.MethodPost, "/imports?"+q.Encode(), f, "text/csv")
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	defer resp.Body.Close()
	var imp struct {
		ID string `json:"id"`
	}
	if err := jsonDecode(resp.Body, &imp); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "contacts.import", "import "+imp.ID, hdr.Filename)
	http.Redirect(w, r, "/contacts/imports/"+url.PathEscape(imp.ID), http.StatusSeeOther)
}

// importState is contacts' import, as the progress page shows it.
type importState struct {
	ID         string   `json:"id"`
	Source     string   `json:"source"`
	DryRun     bool     `json:"dry_run"`
	State      string   `json:"state"`
	Error      string   `json:"error"`
	Warnings   []string `json:"warnings"`
	Read       int64    `json:"rows_read"`
	New        int64    `json:"new"`
	Updated    int64    `json:"updated"`
	Unchanged  int64    `json:"unchanged"`
	Merged     int64    `json:"merged"`
	Rejected   int64    `json:"rejected"`
	OptOuts    int64    `json:"opt_outs"`
	Imported   int64    `json:"imported"`
	FinishedAt string   `json:"finished_at"`
}

// Finished reports whether the import will change no more.
func (i importState) Finished() bool { return i.State == "done" || i.State == "failed" }

type importView struct {
	Import importState
	// Report is the start of the error report: header, then rows.
	Report     [][]string
	ReportMore bool
}

// maxReportRows is how much of the error report the page shows; the
// whole report is a download.
const maxReportRows = 100

func (s *Server) importPage(w http.ResponseWriter, r *http.Request) {
	id := url.PathEscape(chi.URLParam(r, "id"))
	var v importView
	if err := s.Services.Contacts.JSON(r.Context(), http.MethodGet, "/imports/"+id, nil, &v.Import); err != nil {
		s.failErr(w, r, err)
		return
	}
	// The report quotes the rows it refused: organizers see it, viewers
	// the counts.
	if v.Import.Finished() && v.Import.Rejected > 0 && principalOf(r).Role.Allows(account.RoleOrganizer) {
		resp, err := s.Services.Contacts.Raw(r.Context(), http.MethodGet, "/imports/"+id+"/errors.csv", nil, "")
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		defer resp.Body.Close()
		cr := csv.NewReader(resp.Body)
		cr.FieldsPerRecord = -1
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				s.failErr(w, r, fmt.Errorf("reading error report: %w", err))
				return
			}
			if len(v.Report) > maxReportRows {
				v.ReportMore = true
				break
			}
			v.Report = append(v.Report, rec)
		}
	}
	s.render(w, r, http.StatusOK, "importstatus", "Import", v)
}

// importStatus is the progress page's live part: contacts' import JSON.
func (s *Server) importStatus(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Contacts, http.MethodGet, "/imports/"+url.PathEscape(chi.URLParam(r, "id")), nil)
}

// importErrors downloads an import's whole error report. It quotes the
// member rows it refused, so, like every file of member data, it is an
// organizer's and audited.
func (s *Server) importErrors(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	s.download(w, r, s.Services.Contacts, "/imports/"+url.PathEscape(id)+"/errors.csv", "import.errors", "import "+id, "")
}

type optOutsView struct {
	// Q searches the addresses.
	Q            string `json:"-"`
	Suppressions []struct {
		Channel   string `json:"channel"`
		Address   string `json:"address"`
		Reason    string `json:"reason"`
		Source    string `json:"source"`
		CreatedAt string `json:"created_at"`
	} `json:"suppressions"`
}

func (s *Server) optOutsPage(w http.ResponseWriter, r *http.Request) {
	v := optOutsView{Q: strings.TrimSpace(r.URL.Query().Get("q"))}
	if err := s.Services.Delivery.JSON(r.Context(), http.MethodGet, "/suppressions?limit=500&q="+url.QueryEscape(v.Q), nil, &v); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "optouts", "Opt-outs", v)
}

// consentExport downloads the consent ledger: an organizer's, audited.
func (s *Server) consentExport(w http.ResponseWriter, r *http.Request) {
	s.download(w, r, s.Services.Contacts, "/consent/export.csv", "consent.export", "consent ledger", "")
}
