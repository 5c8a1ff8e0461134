package server

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/web"
)

// Campaigns of every kind through the API: drafts, previews, tests,
// launches, results and what members answered, and the inbox. Viewers
// read; organizers write (audited), and take the CSV exports of who
// answered, signed or called (audited: who signed what is the union's most
// sensitive fact after the member list itself).

func campaignPath(r *http.Request, rest string) string {
	return "/campaigns/" + url.PathEscape(chi.URLParam(r, "id")) + rest
}

func (s *Server) apiListCampaigns(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, s.Services.Campaigns, "/campaigns", listing{Name: "campaigns", After: "after"})
}

func (s *Server) apiGetCampaign(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Campaigns, http.MethodGet, campaignPath(r, ""), nil)
}

// apiCampaignRead passes one of a campaign's read-only documents through:
// its steps, its launch estimate, its results.
func (s *Server) apiCampaignRead(rest string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.proxy(w, r, s.Services.Campaigns, http.MethodGet, campaignPath(r, rest), nil)
	}
}

func (s *Server) apiCreateCampaign(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPost, "/campaigns", bodyNeeded, func(_, answer []byte) {
		var c campaign
		_ = json.Unmarshal(answer, &c)
		s.audit(r, principalOf(r), "campaign.create", "campaign "+c.ID, c.Kind+" "+c.Name)
	})
}

// apiUpdateCampaign replaces a draft (campaigns refuses anything else).
func (s *Server) apiUpdateCampaign(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPut, campaignPath(r, ""), bodyNeeded, func(_, answer []byte) {
		var c campaign
		_ = json.Unmarshal(answer, &c)
		s.audit(r, principalOf(r), "campaign.update", "campaign "+chi.URLParam(r, "id"), c.Kind+" "+c.Name)
	})
}

// apiChangeMeeting moves or edits a meeting, launched or not; those who
// said yes are told.
func (s *Server) apiChangeMeeting(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPatch, campaignPath(r, "/meeting"), bodyNeeded, func(req, _ []byte) {
		s.audit(r, principalOf(r), "campaign.meeting", "campaign "+chi.URLParam(r, "id"), fieldsOf(req))
	})
}

// apiPreview renders a part of a campaign for a contact or sample data;
// it changes nothing, but shows a member's details as sent, so it is an
// organizer's.
func (s *Server) apiPreview(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPost, campaignPath(r, "/preview"), bodyOptional, nil)
}

// apiTestSend sends a part to the organizer's own phone or email. The
// audit entry names the addresses: texting others from the union's
// number is a threat this log is for.
func (s *Server) apiTestSend(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, s.Services.Campaigns, http.MethodPost, campaignPath(r, "/test"), bodyNeeded, func(req, _ []byte) {
		var to []string
		for _, k := range []string{"phone", "email"} {
			if v := idOf(req, k); v != "" {
				to = append(to, v)
			}
		}
		s.audit(r, principalOf(r), "campaign.test", "campaign "+chi.URLParam(r, "id"), "to "+strings.Join(to, ", "))
	})
}

// apiCampaignAction launches, pauses, resumes or cancels, recording who
// did it once the service has accepted.
func (s *Server) apiCampaignAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.forward(w, r, s.Services.Campaigns, http.MethodPost, campaignPath(r, "/"+action), bodyOptional, func(req, _ []byte) {
			s.audit(r, principalOf(r), "campaign."+action, "campaign "+chi.URLParam(r, "id"), clip(string(req), 200))
		})
	}
}

func (s *Server) apiResultsStream(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, s.Services.Campaigns, campaignPath(r, "/results/stream"))
}

// apiAnswers lists a meeting's RSVPs or a petition's signatures or calls,
// a page at a time.
func (s *Server) apiAnswers(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.list(w, r, s.Services.Campaigns, campaignPath(r, "/"+name), listing{Name: name, After: "after", Pass: []string{"answer"}})
	}
}

// apiAnswersCSV exports them whole.
func (s *Server) apiAnswersCSV(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := url.Values{"format": {"csv"}}
		if a := r.URL.Query().Get("answer"); a != "" && name == "rsvps" {
			q.Set("answer", a)
		}
		s.download(w, r, s.Services.Campaigns, campaignPath(r, "/"+name+"?"+q.Encode()), "campaign.export", "campaign "+chi.URLParam(r, "id"), name)
	}
}

// apiInbox lists members' replies waiting for a person, newest first.
// campaigns pages it by time (before=); the next position is the last
// reply's time when the page was full.
func (s *Server) apiInbox(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, s.Services.Campaigns, "/inbox", listing{Name: "items", After: "before", Pass: []string{"status", "campaign_id", "conversation"},
		Next: func(_ map[string]json.RawMessage, items []json.RawMessage, limit int) (string, error) {
			if len(items) < limit {
				return "", nil
			}
			var last struct {
				ReceivedAt time.Time `json:"received_at"`
			}
			if err := json.Unmarshal(items[len(items)-1], &last); err != nil {
				return "", err
			}
			return last.ReceivedAt.UTC().Format(time.RFC3339Nano), nil
		}})
}

// apiInboxReply answers a member by text. The caller's Idempotency-Key
// makes a retried request send nothing twice.
func (s *Server) apiInboxReply(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var req struct {
		Body string `json:"body"`
		// Conversation names the member's conversation the item is in:
		// a steward must say it (their members' only).
		Conversation string `json:"conversation"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	if err := s.checkInboxItem(r.Context(), principalOf(r), id, req.Conversation); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	var out json.RawMessage
	if err := s.Services.Campaigns.JSONWithHeader(r.Context(), http.MethodPost, "/inbox/"+url.PathEscape(id)+"/reply",
		map[string]string{"Idempotency-Key": r.Header.Get("Idempotency-Key")}, map[string]string{"body": req.Body}, &out); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	p := principalOf(r)
	s.touch(r, p, idOf(out, "conversation"))
	s.audit(r, p, "inbox.reply", "inbox "+id, "")
	web.WriteJSON(w, http.StatusAccepted, out)
}

func (s *Server) apiInboxHandled(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := s.checkInboxItem(r.Context(), principalOf(r), id, r.URL.Query().Get("conversation")); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	s.forward(w, r, s.Services.Campaigns, http.MethodPost, "/inbox/"+url.PathEscape(id)+"/handled", bodyOptional, func(_, answer []byte) {
		s.touch(r, principalOf(r), idOf(answer, "conversation"))
		s.audit(r, principalOf(r), "inbox.handled", "inbox "+id, "")
	})
}
