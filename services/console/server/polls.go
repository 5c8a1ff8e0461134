package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// Polls by reply: the campaign page shows the answers per choice (live,
// with bars), a breakdown by a contact attribute the organizer picks, who
// answered what with the CSV, and who has not answered. The API passes
// campaigns' poll documents through.

// pollAttributes are the attributes the page offers to break a poll
// down by; the API takes any attribute name.
var pollAttributes = []string{"worksite", "shift", "employer", "language"}

// poll is the part of campaigns' poll the console shows.
type poll struct {
	Question  string            `json:"question"`
	Choices   []string          `json:"choices"`
	ChoicesES []string          `json:"choices_es"`
	Scale     int               `json:"scale"`
	FollowUps map[string]string `json:"follow_ups"`
	// FollowUpsES are kept as they are when the editor saves.
	FollowUpsES map[string]string `json:"follow_ups_es"`
}

// pollFollowUpLines writes the follow-ups as the form takes them, one
// "Choice: text" a line, in the order of the answers.
func pollFollowUpLines(p *poll) string {
	var out []string
	for _, l := range p.Labels() {
		if t := p.FollowUps[l]; t != "" {
			out = append(out, l+": "+t)
		}
	}
	return strings.Join(out, "\n")
}

// Labels are the answers as results count them.
func (p *poll) Labels() []string {
	if p.Scale > 0 {
		out := make([]string, p.Scale)
		for i := range out {
			out[i] = fmt.Sprint(i + 1)
		}
		return out
	}
	return p.Choices
}

// pollCount is campaigns' live count of a poll's answers.
type pollCount struct {
	Counts      map[string]int64 `json:"counts"`
	Answered    int64            `json:"answered"`
	NoAnswer    int64            `json:"no_answer"`
	FollowUpYes int64            `json:"follow_up_yes"`
}

// Of is the share of those asked who gave an answer, for a bar.
func (c *pollCount) Of() int64 { return c.Answered + c.NoAnswer }

// pollGroup is one value of the attribute and its answers.
type pollGroup struct {
	Value      string           `json:"value"`
	Counts     map[string]int64 `json:"counts"`
	Answered   int64            `json:"answered"`
	NoAnswer   int64            `json:"no_answer"`
	Recipients int64            `json:"recipients"`
}

// pollRow is one member and their answer.
type pollRow struct {
	ContactID     string     `json:"contact_id"`
	FirstName     string     `json:"first_name"`
	LastName      string     `json:"last_name"`
	Answer        string     `json:"answer"`
	Body          string     `json:"body"`
	AnsweredAt    *time.Time `json:"answered_at"`
	Changes       int        `json:"changes"`
	FollowUpYesAt *time.Time `json:"follow_up_yes_at"`
}

// Name is the member's name, or a placeholder.
func (p pollRow) Name() string {
	return answer{FirstName: p.FirstName, LastName: p.LastName, ContactID: p.ContactID}.Name()
}

// pollView is the poll's part of the campaign page.
type pollView struct {
	By         string
	Attributes []string
	Groups     []pollGroup
	Answers    []pollRow
	NoAnswer   []pollRow
}

// pollPage reads what the campaign page shows of a poll.
func (s *Server) pollPage(ctx context.Context, id, by string) (*pollView, error) {
	path := "/campaigns/" + url.PathEscape(id)
	pv := &pollView{By: by, Attributes: pollAttributes}
	if by != "" {
		var out struct {
			Groups []pollGroup `json:"groups"`
		}
		if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, path+"/poll?by="+url.QueryEscape(by), nil, &out); err != nil {
			return nil, err
		}
		pv.Groups = out.Groups
	}
	var page struct {
		Answers []pollRow `json:"answers"`
	}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, fmt.Sprintf("%s/poll-answers?limit=%d", path, answersShown), nil, &page); err != nil {
		return nil, err
	}
	for _, a := range page.Answers {
		if a.Answer == "" {
			pv.NoAnswer = append(pv.NoAnswer, a)
		} else {
			pv.Answers = append(pv.Answers, a)
		}
	}
	return pv, nil
}

// apiPoll is a poll's answers per choice and, with by=, per value of a
// contact attribute.
func (s *Server) apiPoll(w http.ResponseWriter, r *http.Request) {
	q := url.Values{}
	if by := r.URL.Query().Get("by"); by != "" {
		q.Set("by", by)
	}
	s.proxy(w, r, s.Services.Campaigns, http.MethodGet, campaignPath(r, "/poll?"+q.Encode()), nil)
}

// apiPollAnswers lists who answered what, a page at a time.
func (s *Server) apiPollAnswers(w http.ResponseWriter, r *http.Request) {
	s.list(w, r, s.Services.Campaigns, campaignPath(r, "/poll-answers"), listing{Name: "answers", After: "after", Pass: []string{"answer"}})
}

// apiPollAnswersCSV exports who answered what, audited as the RSVPs are.
func (s *Server) apiPollAnswersCSV(w http.ResponseWriter, r *http.Request) {
	q := url.Values{"format": {"csv"}}
	if a := r.URL.Query().Get("answer"); a != "" {
		q.Set("answer", a)
	}
	s.download(w, r, s.Services.Campaigns, campaignPath(r, "/poll-answers?"+q.Encode()), "campaign.export", "campaign "+chi.URLParam(r, "id"), "poll answers")
}

// apiContactPollAnswers is a member's poll answers, every change kept.
func (s *Server) apiContactPollAnswers(w http.ResponseWriter, r *http.Request) {
	s.proxy(w, r, s.Services.Campaigns, http.MethodGet, "/contacts/"+url.PathEscape(chi.URLParam(r, "id"))+"/poll-answers", nil)
}

// memberPolls are a member's poll answers for their page: every answer,
// newest first, with the one it replaced.
type memberPolls struct {
	Answers []struct {
		CampaignID   string    `json:"campaign_id"`
		CampaignName string    `json:"campaign_name"`
		Answer       string    `json:"answer"`
		Previous     string    `json:"previous"`
		Body         string    `json:"body"`
		AnsweredAt   time.Time `json:"answered_at"`
	} `json:"answers"`
	// Error says why they could not be read, without failing the page.
	Error string
}

func (s *Server) memberPolls(ctx context.Context, contactID string) *memberPolls {
	mp := &memberPolls{}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, "/contacts/"+url.PathEscape(contactID)+"/poll-answers?limit=50", nil, mp); err != nil {
		mp.Error = "Poll answers could not be loaded just now."
	}
	return mp
}
