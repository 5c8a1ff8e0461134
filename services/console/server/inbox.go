package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/shared/apperr"
)

type inboxItem struct {
	ID         string `json:"id"`
	CampaignID string `json:"campaign_id"`
	ContactID  string `json:"contact_id"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Channel    string `json:"channel"`
	From       string `json:"from"`
	Body       string `json:"body"`
	ReceivedAt string `json:"received_at"`
	HandledAt  string `json:"handled_at"`
	Replies    []struct {
		Body      string `json:"body"`
		CreatedAt string `json:"created_at"`
	} `json:"replies"`
	// Key makes a double-submitted reply form send once.
	Key string `json:"-"`
}

type inboxView struct {
	Status string
	Items  []inboxItem
	Notice string
	// Reviews are the possible opt-outs, shown first on every tab.
	Reviews reviewsView
}

func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status != "handled" && status != "all" {
		status = "open"
	}
	var out struct {
		Items []inboxItem `json:"items"`
	}
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodGet, "/inbox?limit=100&status="+status, nil, &out); err != nil {
		s.failErr(w, r, err)
		return
	}
	for i := range out.Items {
		out.Items[i].Key = account.NewSecret()
	}
	s.render(w, r, http.StatusOK, "inbox", "Inbox", inboxView{Status: status, Items: out.Items, Notice: reviewNotice(r), Reviews: s.openReviews(r.Context())})
}

func (s *Server) inboxReply(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	body := strings.TrimSpace(r.PostFormValue("body"))
	if body == "" {
		s.failErr(w, r, apperr.Invalid("body", "write a reply first"))
		return
	}
	if err := s.Services.Campaigns.JSONWithHeader(r.Context(), http.MethodPost, "/inbox/"+url.PathEscape(id)+"/reply",
		map[string]string{"Idempotency-Key": r.PostFormValue("key")}, map[string]string{"body": body}, nil); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "inbox.reply", "inbox "+id, "")
	http.Redirect(w, r, "/inbox?notice=replied", http.StatusSeeOther)
}

func (s *Server) inboxHandled(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/inbox/"+url.PathEscape(id)+"/handled", nil, nil); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "inbox.handled", "inbox "+id, "")
	http.Redirect(w, r, "/inbox?notice=handled", http.StatusSeeOther)
}
