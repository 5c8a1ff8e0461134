package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/shared/apperr"
)

// campaign is the part of campaigns' campaign the console shows.
type campaign struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Kind        string         `json:"kind"`
	Channel     string         `json:"channel"`
	Body        string         `json:"body"`
	Status      string         `json:"status"`
	Targeted    int64          `json:"targeted"`
	Audience    storedAudience `json:"audience"`
	Meeting     *meeting       `json:"meeting"`
	Petition    *petition      `json:"petition"`
	Poll        *poll          `json:"poll"`
	CreatedAt   string         `json:"created_at"`
	ScheduledAt *time.Time     `json:"scheduled_at"`
	// DefaultLanguage, Content and Urgent are kept as they are when the
	// editor saves: it writes the default language's text and email, and
	// leaves the rest (other languages, auto-replies, reminders' words).
	DefaultLanguage string                                `json:"default_language"`
	Content         map[string]map[string]json.RawMessage `json:"content"`
	Urgent          bool                                  `json:"urgent"`
}

// KindWord is the campaign's kind as organizers say it.
func (c campaign) KindWord() string {
	switch c.Kind {
	case "meeting":
		return "Meeting"
	case "petition":
		return "Petition"
	case "poll":
		return "Poll"
	default:
		return "Alert"
	}
}

// ChannelWord is how the campaign is sent, in words.
func (c campaign) ChannelWord() string {
	switch c.Channel {
	case "email":
		return "email"
	case "both":
		return "text and email"
	default:
		return "text"
	}
}

// Editable reports whether the console's editor can change it: any kind
// on any channel, until it is launched or scheduled.
func (c campaign) Editable() bool { return c.Status == "draft" }

// results are campaigns' live numbers for step 0.
type results struct {
	Status    string `json:"status"`
	Targeted  int64  `json:"targeted"`
	Published int64  `json:"published"`
	Pending   int64  `json:"pending"`
	Sent      int64  `json:"sent"`
	Delivered int64  `json:"delivered"`
	Failed    int64  `json:"failed"`
	// Queued are with delivery and not yet sent; Deferred, among them,
	// are held back for a reason (quiet hours, a cap).
	Queued    int64            `json:"queued"`
	Deferred  int64            `json:"deferred"`
	Replies   int64            `json:"replies"`
	OptOuts   int64            `json:"opt_outs"`
	InboxOpen int64            `json:"inbox_open"`
	Failures  map[string]int64 `json:"failures"`

	// PossibleOptOuts wait for an organizer's decision in the inbox.
	PossibleOptOuts int64 `json:"possible_opt_outs"`
	// DeferredByReason splits Deferred by what holds each text now
	// (member_window, pause, fewer_texts, state_rule, quiet_hours, cap);
	// DeferredLastUntil is when the last is due.
	DeferredByReason  map[string]int64 `json:"deferred_by_reason"`
	DeferredLastUntil *time.Time       `json:"deferred_last_until"`

	// RSVPs are a meeting's answers; Signatures and Goal a petition's.
	RSVPs *struct {
		Yes      int64 `json:"yes"`
		No       int64 `json:"no"`
		NoAnswer int64 `json:"no_answer"`
	} `json:"rsvps"`
	Signatures *int64 `json:"signatures"`
	Goal       int64  `json:"goal"`
	Calls      *int64 `json:"calls"`
	// Poll is a poll's answers per choice.
	Poll *pollCount `json:"poll"`

	// Timeline is sends, deliveries and replies over time.
	Timeline *timeline `json:"timeline"`
}

// Waiting is how many first messages are not sent yet: with delivery
// (held back or about to go) or not yet recorded by it.
func (r results) Waiting() int64 { return r.Pending + r.Queued }

func (s *Server) campaign(ctx context.Context, id string) (campaign, error) {
	var c campaign
	err := s.Services.Campaigns.JSON(ctx, http.MethodGet, "/campaigns/"+url.PathEscape(id), nil, &c)
	return c, err
}

func (s *Server) campaigns(ctx context.Context) ([]campaign, error) {
	var out struct {
		Campaigns []campaign `json:"campaigns"`
	}
	err := s.Services.Campaigns.JSON(ctx, http.MethodGet, "/campaigns", nil, &out)
	return out.Campaigns, err
}

type campaignRow struct {
	Campaign campaign
	Results  *results
}

type dashboardView struct {
	Recent    []campaignRow
	OpenInbox int
	InboxMore bool
	// Overdue counts the replies past the reply deadline, for anyone.
	Overdue     int
	OverdueMore bool
	// Reviews are the possible opt-outs waiting for a decision: the
	// deadline makes them the most urgent thing in the inbox.
	Reviews reviewsView
}

// dashboardCampaigns is how many recent campaigns the dashboard shows
// with their numbers.
const dashboardCampaigns = 8

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	if isSteward(principalOf(r)) {
		// A steward's work is their members' conversations.
		http.Redirect(w, r, "/inbox?mine=1", http.StatusSeeOther)
		return
	}
	list, err := s.campaigns(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	var v dashboardView
	for i, c := range list {
		if i == dashboardCampaigns {
			break
		}
		row := campaignRow{Campaign: c}
		if c.Status != "draft" {
			var res results
			if err := s.Services.Campaigns.JSON(r.Context(), http.MethodGet, "/campaigns/"+url.PathEscape(c.ID)+"/results", nil, &res); err == nil {
				row.Results = &res
			}
		}
		v.Recent = append(v.Recent, row)
	}
	var inbox struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodGet, "/inbox?status=open&limit=100", nil, &inbox); err != nil {
		s.failErr(w, r, err)
		return
	}
	v.OpenInbox, v.InboxMore = len(inbox.Items), len(inbox.Items) == 100
	v.Reviews = s.openReviews(r.Context())
	_, names := s.campaignNames(r.Context())
	overdue, more, err := s.conversations(r.Context(), principalOf(r), inboxFilter{Status: "open", Overdue: true}, names)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Overdue, v.OverdueMore = len(overdue), more
	s.render(w, r, http.StatusOK, "dashboard", "Dashboard", v)
}

func (s *Server) campaignsPage(w http.ResponseWriter, r *http.Request) {
	list, err := s.campaigns(r.Context())
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "campaigns", "Campaigns", list)
}

type campaignView struct {
	Campaign campaign
	Results  results
	Notice   string
	// Held explains the texts delivery holds back, by reason.
	Held held
	// Yes and No are who answered a meeting, Signed who signed a
	// petition: the first answersShown of each (the CSV has them all).
	Yes, No, Signed []answer
	// Poll is a poll's breakdown and who answered what.
	Poll *pollView
	// Chart draws Results.Timeline; nil before anything happened.
	Chart *chart
	// RescheduleError and RescheduleWhen are a refused new send time
	// and what was typed; RescheduleDefault fills the picker.
	RescheduleError   string
	RescheduleWhen    string
	RescheduleDefault string
}

// Failures are the delivery failures in words, most first.
func (v campaignView) Failures() []failure {
	return failuresOf(v.Results.Failures)
}

// answersShown is how many names of each answer the page lists; the
// CSV export has them all.
const answersShown = 100

// answer is one member's RSVP or signature.
type answer struct {
	ContactID  string     `json:"contact_id"`
	FirstName  string     `json:"first_name"`
	LastName   string     `json:"last_name"`
	AnsweredAt *time.Time `json:"answered_at"`
	At         *time.Time `json:"at"`
}

// When is when they answered or signed.
func (a answer) When() *time.Time {
	if a.AnsweredAt != nil {
		return a.AnsweredAt
	}
	return a.At
}

// Name is the member's name, or a stand-in when the list has none.
func (a answer) Name() string {
	if n := strings.TrimSpace(a.FirstName + " " + a.LastName); n != "" {
		return n
	}
	return "(no name)"
}

// Percent is how far the signatures are toward the goal, at most 100.
func (v campaignView) Percent() int64 {
	if v.Results.Signatures == nil || v.Results.Goal <= 0 {
		return 0
	}
	return min(*v.Results.Signatures*100/v.Results.Goal, 100)
}

// Scheduled reports whether the campaign waits for its send time.
func (v campaignView) Scheduled() bool {
	return v.Campaign.Status == "scheduled" && v.Campaign.ScheduledAt != nil
}

func (s *Server) campaignPage(w http.ResponseWriter, r *http.Request) {
	s.showCampaign(w, r, http.StatusOK, nil)
}

// showCampaign draws a campaign's page; more, when given, adds to it (a
// refused form's error) before it is drawn.
func (s *Server) showCampaign(w http.ResponseWriter, r *http.Request, status int, more func(*campaignView)) {
	ctx := r.Context()
	c, err := s.campaign(ctx, chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v := campaignView{Campaign: c, Notice: notice(r)}
	if c.ScheduledAt != nil {
		v.RescheduleDefault = c.ScheduledAt.In(s.orgZone(ctx)).Format("2006-01-02T15:04")
	}
	path := "/campaigns/" + url.PathEscape(c.ID)
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, path+"/results", nil, &v.Results); err != nil {
		s.failErr(w, r, err)
		return
	}
	switch {
	case c.Meeting != nil:
		if v.Yes, err = s.answers(ctx, path+"/rsvps?answer=yes", "rsvps"); err == nil {
			v.No, err = s.answers(ctx, path+"/rsvps?answer=no", "rsvps")
		}
	case c.Petition != nil && v.Results.Signatures != nil:
		v.Signed, err = s.answers(ctx, path+"/signatures?", "signatures")
	case c.Poll != nil:
		v.Poll, err = s.pollPage(ctx, c.ID, r.URL.Query().Get("by"))
	}
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	if v.Results.Waiting() > 0 {
		v.Held = s.heldBack(ctx, c.ID)
	}
	v.Chart = chartOf(v.Results.Timeline, s.orgZone(ctx))
	if more != nil {
		more(&v)
	}
	s.render(w, r, status, "campaign", c.Name, v)
}

// answers reads the first answersShown of a campaign's answer list.
func (s *Server) answers(ctx context.Context, path, name string) ([]answer, error) {
	var page map[string]json.RawMessage
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, path+"&limit="+strconv.Itoa(answersShown), nil, &page); err != nil {
		return nil, err
	}
	var list []answer
	if raw, ok := page[name]; ok {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
	}
	return list, nil
}

// campaignStream relays campaigns' live results to the results page.
func (s *Server) campaignStream(w http.ResponseWriter, r *http.Request) {
	s.stream(w, r, s.Services.Campaigns, "/campaigns/"+url.PathEscape(chi.URLParam(r, "id"))+"/results/stream")
}

// notices are the fixed messages a redirect may ask a page to show; the
// query names one, so no text from the URL reaches the page.
func notice(r *http.Request) string {
	switch r.URL.Query().Get("notice") {
	case "launched":
		return "Launched. The numbers below update as messages go out."
	case "scheduled":
		return "Scheduled. It will go out at the time you chose."
	case "paused":
		return "Paused. Nothing more goes out until you resume."
	case "resumed":
		return "Resumed."
	case "cancelled":
		return "Cancelled. Nothing more will be sent."
	case "test":
		return "Test message sent. Check your phone."
	case "test-email":
		return "Test email sent. Look for “[Test]” in your inbox."
	case "saved":
		return "Draft saved."
	case "copied":
		return "This is a copy: a new draft. Change what you need, then review and launch it."
	case "rescheduled":
		return "Rescheduled. It will go out at the new time."
	case "locked":
		return "This campaign has been launched or scheduled, so it can no longer be edited. Duplicate it to send a changed copy."
	case "replied":
		return "Reply sent."
	case "handled":
		return "Marked handled."
	default:
		return ""
	}
}

type composeView struct {
	Form  composeForm
	Error string
}

func (s *Server) newCampaignPage(w http.ResponseWriter, r *http.Request) {
	f := composeFormOf(func(string) string { return "" })
	f.TimeZone = s.orgZone(r.Context()).String() // a meeting is most often where the union is
	f.Audience.Tags = s.tagsInUse(r.Context(), "", 50)
	s.render(w, r, http.StatusOK, "compose", "New campaign", composeView{Form: f})
}

// createCampaign saves the compose form as a draft and opens it in the
// editor, whatever its kind.
func (s *Server) createCampaign(w http.ResponseWriter, r *http.Request) {
	f := composeFormOf(r.PostFormValue)
	if s.audienceStep(w, r, &f) {
		return
	}
	req, err := f.request()
	var c campaign
	if err == nil {
		err = s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns", req, &c)
	}
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid {
			f.Audience.Tags = s.tagsInUse(r.Context(), "", 50)
			if strings.HasPrefix(apperr.FieldOf(err), "aud_") {
				f.Audience.ErrorField = apperr.FieldOf(err)
			}
			s.render(w, r, http.StatusBadRequest, "compose", "New campaign", composeView{Form: f, Error: err.Error()})
			return
		}
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "campaign.create", "campaign "+c.ID, c.Name)
	// Every kind goes on to the editor: its preview, test send and send
	// time.
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(c.ID)+"/edit", http.StatusSeeOther)
}

// audienceCount is a tag's audience: reachable and excluded are the SMS
// numbers (the editor's), sms and email split each channel.
type audienceCount struct {
	Total     int64        `json:"total"`
	Reachable int64        `json:"reachable"`
	Excluded  int64        `json:"excluded"`
	SMS       channelCount `json:"sms"`
	Email     channelCount `json:"email"`
}

// channelCount is contacts' count for one channel.
type channelCount struct {
	Reachable int64 `json:"reachable"`
	OptedOut  int64 `json:"opted_out"`
	NoAddress int64 `json:"no_address"`
}

func (s *Server) countTag(ctx context.Context, tag string) (audienceCount, error) {
	return s.countFilter(ctx, map[string]string{"tag": tag})
}

// parseLocal reads a datetime-local value ("2026-12-08T16:00") as a wall
// clock time in loc.
func parseLocal(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, apperr.Invalid("local", "%q is not a date and time such as 2026-12-08T16:00", s)
}

type launchView struct {
	Campaign campaign
	// Lines say how many get what on which channel, SMS first.
	Lines []launchLine
	// Reachable is everyone something will be sent to.
	Reachable int64
	Excluded  int64
	// At is the chosen send time (RFC 3339), empty for now.
	At       string
	Finish   string
	Segments int
	Encoding string
	// Text is the SMS as a sample member gets it; Subject and EmailText
	// the email.
	Text      string
	Subject   string
	EmailText string
	// Reminders are when a meeting's reminders go out.
	Reminders []string
	// Forecast says who gets the text now and who later, and why; nil for
	// a campaign with no text or one scheduled for later.
	Forecast *launchForecast
}

// launchLine is one channel's part of the launch: N people get What.
type launchLine struct {
	N       int64
	What    string
	Channel string
}

// SMS and Email report whether the campaign sends on them.
func (v launchView) SMS() bool {
	return v.Campaign.Channel == "sms" || v.Campaign.Channel == "both" || v.Campaign.Channel == ""
}
func (v launchView) Email() bool {
	return v.Campaign.Channel == "email" || v.Campaign.Channel == "both"
}

// whatOf names what a channel carries for a kind of campaign.
func whatOf(kind, channel string) string {
	noun := map[string]string{"sms": "text", "email": "email"}[channel]
	switch kind {
	case "meeting":
		return "this invitation by " + noun
	case "petition":
		return "this petition " + noun
	case "poll":
		return "this poll by " + noun
	default:
		return "this " + noun
	}
}

// confirmLaunchPage says, before anything is sent, how many people get
// what on which channel and when, with campaigns' own preview of each.
func (s *Server) confirmLaunchPage(w http.ResponseWriter, r *http.Request) {
	c, err := s.campaign(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	v := launchView{Campaign: c, Reminders: reminderTimes(c.Meeting)}
	// The editor sends the picked time as the organization's wall clock
	// (local, from a datetime-local field); at is an RFC 3339 instant.
	if local := strings.TrimSpace(r.URL.Query().Get("local")); local != "" {
		t, err := parseLocal(local, s.orgZone(r.Context()))
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		v.At = t.UTC().Format(time.RFC3339)
	} else if at := strings.TrimSpace(r.URL.Query().Get("at")); at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			s.failErr(w, r, apperr.Invalid("at", "want a date and time"))
			return
		}
		v.At = t.UTC().Format(time.RFC3339)
	}
	var est struct {
		Channels map[string]struct {
			Reachable int64  `json:"reachable"`
			OptedOut  *int64 `json:"opted_out"`
			NoAddress *int64 `json:"no_address"`
			Segments  int    `json:"segments"`
			Encoding  string `json:"encoding"`
		} `json:"channels"`
		Total           *int64 `json:"total"`
		Excluded        *int64 `json:"excluded"`
		EstimatedFinish string `json:"estimated_finish"`
	}
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodGet, "/campaigns/"+url.PathEscape(c.ID)+"/estimate", nil, &est); err != nil {
		s.failErr(w, r, err)
		return
	}
	v.Finish = est.EstimatedFinish
	for _, ch := range []string{"sms", "email"} {
		e, ok := est.Channels[ch]
		if !ok || (ch == "sms" && !v.SMS()) || (ch == "email" && !v.Email()) {
			continue
		}
		v.Lines = append(v.Lines, launchLine{N: e.Reachable, What: whatOf(c.Kind, ch), Channel: ch})
		if e.Reachable > v.Reachable {
			v.Reachable = e.Reachable
		}
		if ch == "sms" {
			v.Segments, v.Encoding = e.Segments, e.Encoding
		}
	}
	if len(v.Lines) == 0 {
		ch := "sms"
		if !v.SMS() {
			ch = "email"
		}
		v.Lines = []launchLine{{What: whatOf(c.Kind, ch), Channel: ch}}
	}
	if est.Excluded != nil {
		v.Excluded = *est.Excluded
		if est.Total != nil && len(v.Lines) > 1 {
			v.Reachable = *est.Total - *est.Excluded
		}
	}
	var p struct {
		SMS *struct {
			Body string `json:"body"`
		} `json:"sms"`
		Email *struct {
			Subject string `json:"subject"`
			Text    string `json:"text"`
		} `json:"email"`
	}
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(c.ID)+"/preview", map[string]any{}, &p); err == nil {
		if p.SMS != nil {
			v.Text = p.SMS.Body
		}
		if p.Email != nil {
			v.Subject, v.EmailText = p.Email.Subject, p.Email.Text
		}
	}
	if v.SMS() && v.At == "" {
		f := s.forecast(r.Context(), c)
		v.Forecast = &f
	}
	s.render(w, r, http.StatusOK, "launch", "Launch "+c.Name, v)
}

func (s *Server) launch(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	body := map[string]string{}
	if at := strings.TrimSpace(r.PostFormValue("at")); at != "" {
		body["at"] = at
	}
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/launch", body, nil); err != nil {
		s.failErr(w, r, err)
		return
	}
	s.audit(r, principalOf(r), "campaign.launch", "campaign "+id, body["at"])
	n := "launched"
	if body["at"] != "" {
		n = "scheduled"
	}
	http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"?notice="+n, http.StatusSeeOther)
}

// campaignAction pauses, resumes or cancels a campaign from its page.
func (s *Server) campaignAction(action string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		var body any
		if action == "cancel" {
			body = map[string]string{}
		}
		if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/campaigns/"+url.PathEscape(id)+"/"+action, body, nil); err != nil {
			s.failErr(w, r, err)
			return
		}
		s.audit(r, principalOf(r), "campaign."+action, "campaign "+id, "")
		past := map[string]string{"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
		http.Redirect(w, r, "/campaigns/"+url.PathEscape(id)+"?notice="+past, http.StatusSeeOther)
	}
}
