package server

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The editor: one page for every kind of campaign (alert, meeting,
// petition with or without a call) on every channel, open until launch.
// It saves as the organizer types (POST /campaigns/{id}/draft, JSON) and
// without JavaScript (POST /campaigns/{id}/edit, a form), shows campaigns'
// own rendering of the text (with its length and segments) and of the
// email (in a sandboxed frame), and sends tests to a phone or an inbox.

// editorFormOf is the editor's form for a saved campaign: what compose would
// have sent to make it.
func editorFormOf(c campaign) composeForm {
	f := composeForm{Name: c.Name, Tag: c.Audience.Tag, Kind: c.Kind, Channel: c.Channel, Body: c.Body}
	if f.Kind == "" {
		f.Kind = "alert"
	}
	if f.Channel == "" {
		f.Channel = "sms"
	}
	// The builder holds the stored audience; one it cannot write is kept
	// as it is and said in words.
	var ok bool
	if f.Audience, ok = audienceFormOfStored(c.Audience); !ok {
		f.KeepAudience, f.Tag = true, c.Audience.Words()
	}
	if raw, ok := c.Content[c.DefaultLanguage]["email"]; ok {
		var e struct {
			Subject string `json:"subject"`
			Text    string `json:"text"`
			HTML    string `json:"html"`
		}
		if json.Unmarshal(raw, &e) == nil {
			f.Subject, f.EmailText, f.EmailHTML = e.Subject, e.Text, e.HTML
		}
	}
	if m := c.Meeting; m != nil {
		loc, err := time.LoadLocation(m.TimeZone)
		if err != nil {
			loc = time.UTC
		}
		f.Title, f.TimeZone, f.Place, f.VideoURL = m.Title, m.TimeZone, m.Place, m.VideoURL
		if m.Title == c.Name {
			f.Title = "" // saved before titles stopped defaulting to the name
		}
		f.StartsAt = m.StartsAt.In(loc).Format("2006-01-02T15:04")
		var rs []string
		for _, r := range m.Reminders {
			if d, err := time.ParseDuration(r); err == nil {
				rs = append(rs, shortDuration(-d))
			}
		}
		f.Reminders = strings.Join(rs, ", ")
		if len(rs) == 0 {
			f.Reminders = "none"
		}
	}
	if p := c.Petition; p != nil {
		f.Title, f.Keyword, f.Ask = p.Title, p.Keyword, p.Ask
		if p.Title == c.Name {
			f.Title = ""
		}
		if p.Goal > 0 {
			f.Goal = strconv.Itoa(p.Goal)
		}
		if p.Call != nil {
			f.CallNumber, f.CallScript = p.Call.Number, p.Call.Script
		}
	}
	return f
}

// keep adds to the editor's request what the editor does not show, so a
// save loses none of it: the urgency, and, while the kind and channels
// are unchanged, the default language's other words (auto-replies,
// reminders), every other language and the meeting's length. A change of
// kind or channel drops them: they may not fit the new kind.
func keep(req map[string]any, cur campaign) {
	if a, _ := req["audience"].(map[string]any); a == nil {
		req["audience"] = cur.Audience // the editor kept it as stored
	}
	req["urgent"] = cur.Urgent
	if cur.DefaultLanguage != "" {
		req["default_language"] = cur.DefaultLanguage
	}
	if req["kind"] != cur.Kind || req["channel"] != cur.Channel {
		return
	}
	content := map[string]map[string]json.RawMessage{}
	for lang, ct := range cur.Content {
		kept := map[string]json.RawMessage{}
		for k, v := range ct {
			// The default language's text and email come from the form.
			if lang == cur.DefaultLanguage && (k == "sms" || k == "email") {
				continue
			}
			kept[k] = v
		}
		if len(kept) > 0 {
			content[lang] = kept
		}
	}
	if len(content) > 0 {
		req["content"] = content
	}
	if m, ok := req["meeting"].(map[string]any); ok && cur.Meeting != nil && cur.Meeting.Duration != "" {
		m["duration"] = cur.Meeting.Duration
	}
}

// editorPreview is campaigns' rendering of the draft for a sample member.
type editorPreview struct {
	Text     string   `json:"text"`
	Encoding string   `json:"encoding"`
	Units    int      `json:"units"`
	Segments int      `json:"segments"`
	Plain    string   `json:"plain,omitempty"`
	Warnings []string `json:"warnings"`
	// Subject is the email's subject, filled in; Email says the
	// campaign has an email to show.
	Subject string `json:"subject"`
	Email   bool   `json:"email"`
}

// Counter is the text's length as the editor shows it.
func (p editorPreview) Counter() string {
	if p.Encoding == "" {
		return ""
	}
	s := fmt.Sprintf("%d characters, %d segment", p.Units, p.Segments)
	if p.Segments != 1 {
		s += "s"
	}
	return s + " (" + p.Encoding + ")"
}

// previewOf asks campaigns for the draft's rendering.
func (s *Server) previewOf(ctx context.Context, id string) (editorPreview, error) {
	var p struct {
		SMS *struct {
			Body   string `json:"body"`
			Length struct {
				Encoding string `json:"encoding"`
				Units    int    `json:"units"`
				Segments int    `json:"segments"`
			} `json:"length"`
			Plain *struct {
				Body string `json:"body"`
			} `json:"plain"`
		} `json:"sms"`
		Email *struct {
			Subject string `json:"subject"`
		} `json:"email"`
		Warnings []string `json:"warnings"`
	}
	out := editorPreview{Warnings: []string{}}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/preview", map[string]any{}, &p); err != nil {
		return out, err
	}
	if p.SMS != nil {
		out.Text, out.Encoding, out.Units, out.Segments = p.SMS.Body, p.SMS.Length.Encoding, p.SMS.Length.Units, p.SMS.Length.Segments
		if p.SMS.Plain != nil {
			out.Plain = p.SMS.Plain.Body
		}
	}
	if p.Email != nil {
		out.Email, out.Subject = true, p.Email.Subject
	}
	if p.Warnings != nil {
		out.Warnings = p.Warnings
	}
	return out, nil
}

type editView struct {
	Campaign campaign
	Form     composeForm
	Notice   string
	// Zone names the organization's time zone, in which the send time
	// is picked.
	Zone string
	// Error is why the last save was refused (the form keeps what was
	// typed).
	Error   string
	Preview editorPreview
	// TestPhone, TestEmail and TestError are a refused test's addresses,
	// as typed, and why it was refused.
	TestPhone string
	TestEmail string
	TestError string
	TestField string
}

// SendsSMS and SendsEmail say which test addresses the editor asks for.
func (v editView) SendsSMS() bool { return v.Campaign.Channel != "email" }
func (v editView) SendsEmail() bool {
	return v.Campaign.Channel == "email" || v.Campaign.Channel == "both"
}

// renderEditor draws the editor for c with v's form, errors and notice,
// and campaigns' preview of what is saved.
func (s *Server) renderEditor(w http.ResponseWriter, r *http.Request, status int, v editView) {
	v.Zone = s.orgZone(r.Context()).String()
	p, err := s.previewOf(r.Context(), v.Campaign.ID)
	if err != nil && apperr.KindOf(err) != apperr.KindInvalid {
		s.failErr(w, r, err)
		return
	}
	v.Preview = p
	s.render(w, r, status, "edit", "Edit "+v.Campaign.Name, v)
}

// locked sends the organizer from an editor that can no longer save to
// the campaign's page, which says why.
func locked(w http.ResponseWriter, r *http.Request, id string) {
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"?notice=locked", http.StatusSeeOther)
}

func (s *Server) editCampaignPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if !c.Editable() {
		locked(w, r, c.ID)
		return
	}
	f := editorFormOf(c)
	f.Audience.Tags = s.tagsInUse(r.Context(), "", 50)
	s.renderEditor(w, r, http.StatusOK, editView{Campaign: c, Form: f, Notice: notice(r)})
}

// replaceDraft sends the form to campaigns as the draft's new version.
func (s *Server) replaceDraft(ctx context.Context, cur campaign, f composeForm) (campaign, error) {
	req, err := f.request()
	if err != nil {
		return campaign{}, err
	}
	keep(req, cur)
	var out campaign
	err = s.Services.Campaigns.JSON(ctx, http.MethodPut, "/campaigns/"+url.PathEscape(cur.ID), req, &out)
	return out, err
}

// saveEdit saves the editor's form without JavaScript; a refusal is shown
// on the editor with everything typed kept. "review" goes on to the launch
// review with the picked send time.
func (s *Server) saveEdit(w http.ResponseWriter, r *http.Request) {
	cur, err := s.campaign(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if !cur.Editable() {
		locked(w, r, cur.ID)
		return
	}
	f := composeFormOf(r.PostFormValue)
	f.Audience.Tags = s.tagsInUse(r.Context(), "", 50)
	// The audience builder's own buttons without script: count, or one
	// more row; nothing is saved.
	if count, add := r.PostFormValue("aud_count") != "", r.PostFormValue("aud_add") != ""; count || add {
		if add {
			f.Audience.Extra = 1
		}
		if len(f.Audience.filled()) > 0 {
			s.countAudienceForm(r.Context(), &f.Audience)
		}
		s.renderEditor(w, r, http.StatusOK, editView{Campaign: cur, Form: f})
		return
	}
	c, err := s.replaceDraft(r.Context(), cur, f)
	switch {
	case apperr.KindOf(err) == apperr.KindInvalid:
		if strings.HasPrefix(apperr.FieldOf(err), "aud_") {
			f.Audience.ErrorField = apperr.FieldOf(err)
		}
		s.renderEditor(w, r, http.StatusBadRequest, editView{Campaign: cur, Form: f, Error: err.Error()})
		return
	case apperr.KindOf(err) == apperr.KindConflict:
		locked(w, r, cur.ID)
		return
	case err != nil:
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "campaign.update", "campaign "+cur.ID, c.Kind+" "+c.Name)
	next := "/campaigns/" + url.PathEscape(cur.ID) + "/edit?notice=saved"
	if r.PostFormValue("next") == "review" {
		next = "/campaigns/" + url.PathEscape(cur.ID) + "/launch"
		if when := strings.TrimSpace(r.PostFormValue("when")); when != "" {
			next += "?local=" + url.QueryEscape(when)
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// draftAnswer is what the editor shows as the organizer types.
type draftAnswer struct {
	editorPreview
	Saved    bool          `json:"saved"`
	Error    string        `json:"error,omitempty"`
	Field    string        `json:"field,omitempty"`
	Audience audienceCount `json:"audience"`
}

// saveDraft replaces the draft with the editor's fields (a JSON object of
// the form's fields) and answers the preview: the editor calls it as the
// organizer types. A refusal is not an error here: mid-typing a merge
// field is normal, so the answer says what is wrong and the editor keeps
// going. A campaign launched meanwhile is a 409.
func (s *Server) saveDraft(w http.ResponseWriter, r *http.Request) {
	var fields map[string]string
	if err := web.DecodeJSON(r, &fields); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	cur, err := s.campaign(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	if !cur.Editable() {
		s.writeJSONError(w, r, apperr.Conflict("this campaign is %s and can no longer be edited", cur.Status))
		return
	}
	f := composeFormOf(func(k string) string { return fields[k] })
	if _, ok := fields["kind"]; !ok {
		// The first editor sent only name, tag and body.
		f.Kind, f.Channel = cur.Kind, cur.Channel
	}
	out := draftAnswer{editorPreview: editorPreview{Warnings: []string{}}}
	if _, err := s.replaceDraft(r.Context(), cur, f); err != nil {
		if apperr.KindOf(err) != apperr.KindInvalid {
			s.writeJSONError(w, r, err)
			return
		}
		out.Error, out.Field = err.Error(), apperr.FieldOf(err)
	} else {
		out.Saved = true
		if out.editorPreview, err = s.previewOf(r.Context(), cur.ID); err != nil {
			s.writeJSONError(w, r, err)
			return
		}
	}
	if tag := strings.TrimSpace(f.Tag); tag != "" {
		if out.Audience, err = s.countTag(r.Context(), tag); err != nil {
			s.writeJSONError(w, r, err)
			return
		}
	}
	web.WriteJSON(w, http.StatusOK, out)
}

// testSend sends the draft to the organizer's phone, typed any common way
// ("(212) 555-1990"; campaigns reads it as an import does), and for an
// email campaign to the address typed, marked "[Test]" and never counted
// in results. Delivery's rules apply to tests too: a suppressed address
// gets nothing. A refused address is shown on the editor with what was
// typed, not on an error page.
func (s *Server) testSend(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	phone := strings.TrimSpace(r.PostFormValue("phone"))
	email := strings.TrimSpace(r.PostFormValue("email"))
	body := map[string]string{}
	if phone != "" {
		body["phone"] = phone
	}
	if email != "" {
		body["email"] = email
	}
	err := apperr.Invalid("phone", "give a phone number or an email address to send the test to")
	if len(body) > 0 {
		err = s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/test", body, nil)
	}
	if err != nil {
		field := apperr.FieldOf(err)
		if apperr.KindOf(err) != apperr.KindInvalid || (field != "phone" && field != "email") {
			s.failErr(w, r, err)
			return
		}
		c, cerr := s.campaign(r.Context(), id)
		if cerr != nil {
			s.failErr(w, r, cerr)
			return
		}
		v := editView{Campaign: c, Form: editorFormOf(c), TestPhone: phone, TestEmail: email, TestField: field}
		switch {
		case len(body) == 0:
			v.TestError = "Give a phone number or an email address to send the test to."
		case field == "email" && email != "":
			v.TestError = "“" + email + "” is not an email address we can send to. Type it like name@example.org."
		case phone != "" && strings.Contains(err.Error(), "the campaign sends on"):
			v.TestError = "This campaign sends only email: give an email address for the test."
		case field == "phone" && phone != "":
			v.TestError = "“" + phone + "” is not a phone number we can text. Type it as you would dial it, such as (212) 555-0100."
		default:
			v.TestError = "This campaign sends only text messages: give a phone number for the test."
		}
		s.renderEditor(w, r, http.StatusBadRequest, v)
		return
	}
	// The addresses go in the log: sending to others from the union's
	// number or domain is a threat the audit log is for.
	s.audit(r, principalOf(r), "campaign.test", "campaign "+id, "to "+strings.TrimSpace(phone+" "+email))
	n := "test"
	if email != "" {
		n = "test-email"
	}
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"/edit?notice="+n, http.StatusSeeOther)
}

// emailPreviewCSP lets the email's own inline styles and pictures show
// and nothing else: no script, no form, no fetch, in a sandbox of its own
// origin, framed only by the console's own pages.
const emailPreviewCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; " +
	"form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox"

// emailPreview is the draft's email as a sample member gets it, for the
// editor's frame. The page's policy replaces the console's: the email's
// inline styles are its own, and the sandbox keeps it from the console.
func (s *Server) emailPreview(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Email *struct {
			Subject string `json:"subject"`
			Text    string `json:"text"`
			HTML    string `json:"html"`
		} `json:"email"`
	}
	id := chi.URLParam(r, "id")
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/preview", map[string]any{}, &p); err != nil {
		s.failErr(w, r, err)
		return
	}
	doc := `<!doctype html><meta charset="utf-8"><title>No email</title><p>This campaign sends no email.</p>`
	if e := p.Email; e != nil {
		doc = e.HTML
		if strings.TrimSpace(doc) == "" {
			doc = `<!doctype html><meta charset="utf-8"><title>` + html.EscapeString(e.Subject) + `</title><pre>` + html.EscapeString(e.Text) + `</pre>`
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", emailPreviewCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(doc))
}

// duplicate makes a new draft from any campaign and opens it in the
// editor.
func (s *Server) duplicate(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var c campaign
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/duplicate", nil, &c); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "campaign.duplicate", "campaign "+c.ID, "copy of "+id)
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.ID)+"/edit?notice=copied", http.StatusSeeOther)
}

// reschedule moves a scheduled campaign to a new time picked in the
// organization's zone; a time campaigns refuses is shown on the
// campaign's page.
func (s *Server) reschedule(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	when := strings.TrimSpace(r.PostFormValue("when"))
	var err error
	var at time.Time
	if when == "" {
		err = apperr.Invalid("at", "pick the new date and time")
	} else if at, err = parseLocal(when, s.orgZone(r.Context())); err == nil {
		err = s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/reschedule",
			map[string]string{"at": at.UTC().Format(time.RFC3339)}, nil)
	}
	if err != nil {
		if k := apperr.KindOf(err); k != apperr.KindInvalid && k != apperr.KindConflict {
			s.failErr(w, r, err)
			return
		}
		msg := "“" + when + "” cannot be the new time: " + err.Error()
		if when == "" {
			msg = "Pick the new date and time."
		}
		s.showCampaign(w, r, http.StatusBadRequest, func(v *campaignView) { v.RescheduleError, v.RescheduleWhen = msg, when })
		return
	}
	s.audit(r, principalOf(r), "campaign.reschedule", "campaign "+id, at.UTC().Format(time.RFC3339))
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"?notice=rescheduled", http.StatusSeeOther)
}

// apiDuplicate is the API's duplicate: 201 with the new draft.
func (s *Server) apiDuplicate(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPost, campaignPath(r, "/duplicate"), bodyOptional, func(_, answer []byte) {
		var c campaign
		_ = json.Unmarshal(answer, &c)
		s.audit(r, principalOf(r), "campaign.duplicate", "campaign "+c.ID, "copy of "+chi.URLParam(r, "id"))
	})
}

// apiReschedule moves a scheduled campaign's send time.
func (s *Server) apiReschedule(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPost, campaignPath(r, "/reschedule"), bodyNeeded, func(req, _ []byte) {
		s.audit(r, principalOf(r), "campaign.reschedule", "campaign "+chi.URLParam(r, "id"), clip(string(req), 200))
	})
}
