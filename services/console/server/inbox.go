package server

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/console/account"
	"github.com/musterhq/muster/services/console/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/web"
)

// The inbox, built for volume: one row per member's conversation (their
// latest reply, who they are, where they work, the campaign it answers),
// filtered by links that can be bookmarked (waiting, mine, by campaign,
// by tag), a conversation opened as a thread with one reply box and the
// saved replies an admin wrote, and several conversations marked handled
// at once. Campaigns keeps the replies and what is handled; the console
// keeps the saved replies and which conversations each organizer
// answered or handled ("mine").

type inboxItem struct {
	ID           string `json:"id"`
	CampaignID   string `json:"campaign_id,omitempty"`
	ContactID    string `json:"contact_id,omitempty"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	Channel      string `json:"channel"`
	From         string `json:"from"`
	Body         string `json:"body"`
	Note         string `json:"note"`
	ReceivedAt   string `json:"received_at"`
	HandledAt    string `json:"handled_at,omitempty"`
	Conversation string `json:"conversation"`
	Replies      []struct {
		Body      string `json:"body"`
		CreatedAt string `json:"created_at"`
	} `json:"replies"`
}

// conversation is one row of the inbox as campaigns lists it.
type conversation struct {
	Latest inboxItem `json:"latest"`
	Count  int       `json:"count"`
	Open   int       `json:"open"`
}

// inboxRow is a conversation with what the console adds: the member's
// name and worksite from contacts, the campaign's name, and whether the
// organizer looking answered or handled it.
type inboxRow struct {
	conversation
	Key          string
	Name         string
	ContactID    string
	Worksite     string
	CampaignName string
	Mine         bool
	// Overdue says the reply has waited past the deadline inside the
	// member's window (overdue.go); AssigneeName is who it is assigned to.
	Overdue      bool
	AssigneeName string
	// Href opens the conversation with the list's filters kept.
	Href string
}

// inboxFilter is the inbox's filters, all in the query string so a view
// can be bookmarked: status open (waiting, the default), handled or all;
// mine; one campaign; one tag.
type inboxFilter struct {
	Status   string
	Mine     bool
	Overdue  bool
	Campaign string
	Tag      string
}

func filterOf(v url.Values) inboxFilter {
	f := inboxFilter{Status: v.Get("status"), Campaign: strings.TrimSpace(v.Get("campaign")), Tag: strings.ToLower(strings.TrimSpace(v.Get("tag")))}
	if f.Status != "handled" && f.Status != "all" {
		f.Status = "open"
	}
	f.Mine, _ = strconv.ParseBool(v.Get("mine"))
	f.Overdue, _ = strconv.ParseBool(v.Get("overdue"))
	if f.Overdue {
		f.Status = "open" // only an open conversation can be overdue
	}
	return f
}

// Values are the filter as query parameters, defaults left out.
func (f inboxFilter) Values() url.Values {
	q := url.Values{}
	if f.Status != "open" {
		q.Set("status", f.Status)
	}
	if f.Mine {
		q.Set("mine", "1")
	}
	if f.Overdue {
		q.Set("overdue", "1")
	}
	if f.Campaign != "" {
		q.Set("campaign", f.Campaign)
	}
	if f.Tag != "" {
		q.Set("tag", f.Tag)
	}
	return q
}

// URL is the inbox with these filters and extra parameters (name, value
// pairs).
func (f inboxFilter) URL(extra ...string) string {
	q := f.Values()
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] != "" {
			q.Set(extra[i], extra[i+1])
		}
	}
	if len(q) == 0 {
		return "/inbox"
	}
	return "/inbox?" + q.Encode()
}

// With is the filter with status or mine changed, for the filter links.
func (f inboxFilter) With(key, value string) string {
	g := f
	switch key {
	case "status":
		g.Status = value
	case "mine":
		g.Mine = value == "1"
	case "overdue":
		g.Overdue = value == "1"
		if g.Overdue {
			g.Status = "open"
		}
	}
	return g.URL()
}

// Cleared is the inbox with the same status and nothing else.
func (f inboxFilter) Cleared() string { return inboxFilter{Status: f.Status}.URL() }

// Any reports whether anything narrows the list beyond its status.
func (f inboxFilter) Any() bool { return f.Mine || f.Overdue || f.Campaign != "" || f.Tag != "" }

// thread is one member's conversation, oldest first: their texts and our
// answers.
type thread struct {
	Key       string
	Name      string
	ContactID string
	Worksite  string
	Address   string
	Turns     []threadTurn
	// ReplyTo is the member's newest reply, the one an answer answers;
	// Channel its channel (only texts are answered from here).
	ReplyTo, Channel string
	Open             bool
	// IdemKey makes a double-submitted reply form send once.
	IdemKey string
	Body    string
	Error   string
}

type threadTurn struct {
	Ours         bool
	Body         string
	At           string
	CampaignName string
	// Question is the poll's question when the text was no answer to
	// it, so whoever reads it sees what the member was asked.
	Question string
}

// pollQuestion is the question campaigns notes on a reply that did not
// answer a poll, or "".
func pollQuestion(note string) string {
	q, _ := strings.CutPrefix(note, "not an answer to the poll: ")
	if q == note {
		return ""
	}
	return q
}

type campaignOption struct{ ID, Name string }

type inboxView struct {
	Filter    inboxFilter
	Rows      []inboxRow
	More      bool
	Campaigns []campaignOption
	Thread    *thread
	Saved     []store.SavedReply
	Notice    string
	Error     string
	// Reviews are the possible opt-outs, shown first on every tab (not to
	// stewards).
	Reviews reviewsView
	// Steward says the caller sees only their own members.
	Steward bool
}

// Bounds of the inbox page: rows shown, and conversations read from
// campaigns when the console filters further (mine, tag).
const (
	inboxShown   = 100
	inboxScanned = 1000
	// contactLookups bounds the contacts read at once for names and
	// worksites.
	contactLookups = 8
	// tagScanPages bounds the pages of tagged members read for the tag
	// filter (500 a page).
	tagScanPages = 20
)

// inboxQuery are what campaigns filters: status and campaign.
func (f inboxFilter) campaignsQuery(limit int) string {
	q := url.Values{}
	q.Set("status", f.Status)
	q.Set("limit", strconv.Itoa(limit))
	if f.Campaign != "" {
		q.Set("campaign_id", f.Campaign)
	}
	return "/inbox/conversations?" + q.Encode()
}

// contactBrief is what the inbox shows of a member.
type contactBrief struct {
	ID           string            `json:"id"`
	FirstName    string            `json:"first_name"`
	LastName     string            `json:"last_name"`
	Tags         []string          `json:"tags"`
	Attributes   map[string]string `json:"attributes"`
	TimeZone     string            `json:"time_zone"`
	AssigneeID   string            `json:"assignee_id"`
	AssigneeName string            `json:"assignee_name"`
	Rhythm       struct {
		Window string `json:"window"`
	} `json:"rhythm"`
}

// contactsByID reads the members behind the conversations, a few at a
// time; one that cannot be read is shown by the name the reply carried.
func (s *Server) contactsByID(ctx context.Context, ids []string) map[string]contactBrief {
	out := map[string]contactBrief{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, contactLookups)
	var failed int
	var lastErr error
	for _, id := range ids {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			var c contactBrief
			err := s.Services.Contacts.JSON(ctx, http.MethodGet, "/contacts/"+url.PathEscape(id), nil, &c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed, lastErr = failed+1, err
				return
			}
			out[id] = c
		})
	}
	wg.Wait()
	if failed > 0 && ctx.Err() == nil {
		s.Log.Warn("inbox: members not read", zap.Int("failed", failed), zap.Error(lastErr))
	}
	return out
}

// taggedMembers are the ids of the members with a tag, as many as
// tagScanPages pages hold.
func (s *Server) taggedMembers(ctx context.Context, tag string) (map[string]bool, error) {
	return s.membersWhere(ctx, url.Values{"tag": {tag}})
}

// campaignNames maps each campaign's id to its name as organizers know it.
func (s *Server) campaignNames(ctx context.Context) ([]campaignOption, map[string]string) {
	list, err := s.campaigns(ctx)
	if err != nil {
		s.Log.Warn("inbox: campaigns not read", zap.Error(err))
	}
	opts := make([]campaignOption, 0, len(list))
	names := map[string]string{}
	for _, c := range list {
		opts = append(opts, campaignOption{ID: c.ID, Name: c.Name})
		names[c.ID] = c.Name
	}
	return opts, names
}

// conversations lists the inbox's rows for a filter, for the page and the
// API alike; more says rows were left out. Mine is the members assigned to
// the caller and the conversations they answered or marked handled; a
// steward sees only their own members' conversations whatever the filter.
// Overdue rows are flagged (overdue.go); the overdue filter keeps only them.
func (s *Server) conversations(ctx context.Context, p *principal, f inboxFilter, names map[string]string) (rows []inboxRow, more bool, err error) {
	steward := isSteward(p)
	limit := inboxShown + 1
	if f.Mine || f.Tag != "" || f.Overdue || steward {
		limit = inboxScanned
	}
	var out struct {
		Conversations []conversation `json:"conversations"`
	}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, f.campaignsQuery(limit), nil, &out); err != nil {
		return nil, false, err
	}
	var assigned, touched, tagged map[string]bool
	if f.Mine || steward {
		if assigned, err = s.assignedMembers(ctx, p.ID); err != nil {
			if steward {
				return nil, false, err // a steward's view cannot be narrowed: show nothing
			}
			// An organizer's mine falls back to what they answered.
			s.Log.Warn("inbox: assigned members not read", zap.Error(err))
			assigned = map[string]bool{}
		}
		if touched, err = s.Store.TouchedConversations(ctx, p.ID); err != nil {
			return nil, false, err
		}
	}
	if f.Tag != "" {
		if tagged, err = s.taggedMembers(ctx, f.Tag); err != nil {
			return nil, false, err
		}
	}
	rule := s.overdueRule(ctx)
	var candidates []inboxRow
	for _, c := range out.Conversations {
		key := c.Latest.Conversation
		cid := c.Latest.ContactID
		mine := assigned[cid] || touched[key]
		switch {
		case steward && !assigned[cid]:
			continue
		case f.Mine && !mine, f.Tag != "" && !tagged[cid]:
			continue
		case f.Overdue && (c.Open == 0 || !rule.maybe(receivedAt(c.Latest))):
			continue
		}
		candidates = append(candidates, inboxRow{conversation: c, Key: key, ContactID: cid, Mine: mine,
			Name:         strings.TrimSpace(c.Latest.FirstName + " " + c.Latest.LastName),
			CampaignName: names[c.Latest.CampaignID], Href: f.URL("c", key) + "#thread"})
		if !f.Overdue && len(candidates) > inboxShown {
			break
		}
	}
	var ids []string
	for _, r := range candidates {
		if r.ContactID != "" && !slices.Contains(ids, r.ContactID) {
			ids = append(ids, r.ContactID)
		}
	}
	members := s.contactsByID(ctx, ids)
	for _, row := range candidates {
		m, known := members[row.ContactID]
		if known {
			if n := strings.TrimSpace(m.FirstName + " " + m.LastName); n != "" {
				row.Name = n
			}
			row.Worksite = m.Attributes["worksite"]
			row.AssigneeName = m.AssigneeName
		}
		row.Overdue = row.Open > 0 && rule.overdue(receivedAt(row.Latest), m.Rhythm.Window, m.TimeZone)
		if f.Overdue && !row.Overdue {
			continue
		}
		if len(rows) == inboxShown {
			more = true
			break
		}
		rows = append(rows, row)
	}
	return rows, more, nil
}

// receivedAt reads when a reply came; one that cannot be read is taken as
// in the far future, so it is never flagged by mistake.
func receivedAt(it inboxItem) time.Time {
	t, err := time.Parse(time.RFC3339Nano, it.ReceivedAt)
	if err != nil {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return t
}

// loadThread reads one member's conversation, oldest first.
func (s *Server) loadThread(ctx context.Context, key string, names map[string]string) (*thread, error) {
	q := url.Values{"conversation": {key}, "status": {"all"}, "limit": {"100"}}
	var out struct {
		Items []inboxItem `json:"items"`
	}
	if err := s.Services.Campaigns.JSON(ctx, http.MethodGet, "/inbox?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	if len(out.Items) == 0 {
		// A member's page links here whether or not they wrote anything
		// the inbox keeps: show them with nothing to answer.
		id, ok := strings.CutPrefix(key, "c:")
		if !ok {
			return nil, apperr.NotFound("no conversation %s in the inbox", key)
		}
		m, found := s.contactsByID(ctx, []string{id})[id]
		if !found {
			return nil, apperr.NotFound("no conversation %s in the inbox", key)
		}
		return &thread{Key: key, ContactID: id, Name: strings.TrimSpace(m.FirstName + " " + m.LastName), Worksite: m.Attributes["worksite"]}, nil
	}
	newest := out.Items[0]
	t := &thread{Key: key, ContactID: newest.ContactID, Address: newest.From, ReplyTo: newest.ID, Channel: newest.Channel,
		Name: strings.TrimSpace(newest.FirstName + " " + newest.LastName), IdemKey: account.NewSecret()}
	for i := len(out.Items) - 1; i >= 0; i-- {
		it := out.Items[i]
		if it.HandledAt == "" {
			t.Open = true
		}
		t.Turns = append(t.Turns, threadTurn{Body: it.Body, At: it.ReceivedAt, CampaignName: names[it.CampaignID], Question: pollQuestion(it.Note)})
		for _, rep := range it.Replies {
			t.Turns = append(t.Turns, threadTurn{Ours: true, Body: rep.Body, At: rep.CreatedAt})
		}
	}
	if t.ContactID != "" {
		if m, ok := s.contactsByID(ctx, []string{t.ContactID})[t.ContactID]; ok {
			if n := strings.TrimSpace(m.FirstName + " " + m.LastName); n != "" {
				t.Name = n
			}
			t.Worksite = m.Attributes["worksite"]
		}
	}
	return t, nil
}

func (s *Server) inboxPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var body string
	if id := q.Get("saved"); id != "" {
		if sr, err := s.Store.SavedReply(r.Context(), id); err == nil {
			body = sr.Body
		}
	}
	s.renderInbox(w, r, http.StatusOK, filterOf(q), inboxState{Key: q.Get("c"), Body: body})
}

// inboxState is what the page shows beyond the filter: the conversation
// open (Key) with Body in its reply box and ReplyErr over it, and an
// error over the list.
type inboxState struct {
	Key, Body, ReplyErr, Error string
}

// renderInbox shows the inbox with a filter and its state.
func (s *Server) renderInbox(w http.ResponseWriter, r *http.Request, status int, f inboxFilter, st inboxState) {
	ctx := r.Context()
	p := principalOf(r)
	v := inboxView{Filter: f, Notice: inboxNotice(r), Error: st.Error, Steward: isSteward(p)}
	if !isSteward(p) {
		// Possible opt-outs are anyone's texts: not a steward's to read.
		v.Reviews = s.openReviews(ctx)
	}
	key := st.Key
	var names map[string]string
	v.Campaigns, names = s.campaignNames(ctx)
	var err error
	if v.Rows, v.More, err = s.conversations(ctx, principalOf(r), f, names); err != nil {
		s.failErr(w, r, err)
		return
	}
	if key != "" {
		if err := s.checkConversation(ctx, p, key); err != nil {
			s.failErr(w, r, err)
			return
		}
		t, err := s.loadThread(ctx, key, names)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		t.Body, t.Error = st.Body, st.ReplyErr
		v.Thread = t
	}
	if p.Role.Allows(account.RoleSteward) {
		if v.Saved, err = s.Store.SavedReplies(ctx); err != nil {
			s.failErr(w, r, err)
			return
		}
	}
	s.render(w, r, status, "inbox", "Inbox", v)
}

// inboxNotice is the inbox's message after an action.
func inboxNotice(r *http.Request) string {
	if n := r.URL.Query().Get("handled_n"); n != "" {
		if k, err := strconv.Atoi(n); err == nil {
			if k == 1 {
				return "1 conversation marked handled."
			}
			return strconv.Itoa(k) + " conversations marked handled."
		}
	}
	if r.URL.Query().Get("notice") == "replied" {
		return "Reply sent. The conversation is handled; it comes back to Waiting if the member writes again."
	}
	return reviewNotice(r)
}

func (s *Server) inboxReply(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	_ = r.ParseForm() // a form that cannot be read is an empty reply
	f := filterOf(r.PostForm)
	key := r.PostFormValue("conversation")
	body := strings.TrimSpace(r.PostFormValue("body"))
	if body == "" {
		s.renderInbox(w, r, http.StatusUnprocessableEntity, f, inboxState{Key: key, ReplyErr: "Write a reply first."})
		return
	}
	if err := s.checkInboxItem(r.Context(), principalOf(r), id, key); err != nil {
		s.failErr(w, r, err)
		return
	}
	var out struct {
		Conversation string `json:"conversation"`
	}
	if err := s.Services.Campaigns.JSONWithHeader(r.Context(), http.MethodPost, "/inbox/"+url.PathEscape(id)+"/reply",
		map[string]string{"Idempotency-Key": r.PostFormValue("key")}, map[string]string{"body": body}, &out); err != nil {
		if apperr.KindOf(err) == apperr.KindInvalid && key != "" {
			s.renderInbox(w, r, http.StatusUnprocessableEntity, f, inboxState{Key: key, Body: body, ReplyErr: web.BodyOf(err).Error})
			return
		}
		s.failErr(w, r, err)
		return
	}
	p := principalOf(r)
	s.touch(r, p, out.Conversation)
	s.audit(r, p, "inbox.reply", "inbox "+id, "")
	http.Redirect(w, r, f.URL("notice", "replied"), http.StatusSeeOther)
}

// touch records conversations as the organizer's ("mine"); failing to is
// logged, not shown: the answer went.
func (s *Server) touch(r *http.Request, p *principal, conversations ...string) {
	var keep []string
	for _, c := range conversations {
		if c != "" {
			keep = append(keep, c)
		}
	}
	if err := s.Store.TouchConversations(context.WithoutCancel(r.Context()), p.ID, keep); err != nil {
		s.Log.Error("inbox: the organizer's conversations not recorded", zap.Error(err))
	}
}

func (s *Server) inboxHandled(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := s.checkInboxItem(r.Context(), principalOf(r), id, r.PostFormValue("conversation")); err != nil {
		s.failErr(w, r, err)
		return
	}
	var it inboxItem
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/inbox/"+url.PathEscape(id)+"/handled", nil, &it); err != nil {
		s.failErr(w, r, err)
		return
	}
	p := principalOf(r)
	s.touch(r, p, it.Conversation)
	s.audit(r, p, "inbox.handled", "inbox "+id, "")
	http.Redirect(w, r, filterOf(r.PostForm).URL("notice", "handled"), http.StatusSeeOther)
}

// inboxHandledMany marks the checked conversations handled at once.
func (s *Server) inboxHandledMany(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm() // a form that cannot be read checked nothing
	f := filterOf(r.PostForm)
	keys := r.PostForm["c"]
	if len(keys) == 0 {
		s.renderInbox(w, r, http.StatusUnprocessableEntity, f, inboxState{Error: "Select the conversations to mark handled first."})
		return
	}
	n, err := s.handleConversations(r, keys)
	if err != nil {
		s.failErr(w, r, err)
		return
	}
	http.Redirect(w, r, f.URL("handled_n", strconv.Itoa(n)), http.StatusSeeOther)
}

// handleConversations asks campaigns to mark conversations handled,
// records them as the caller's and audits it once.
func (s *Server) handleConversations(r *http.Request, keys []string) (int, error) {
	for _, k := range keys {
		if err := s.checkConversation(r.Context(), principalOf(r), k); err != nil {
			return 0, err
		}
	}
	var out struct {
		Handled int `json:"handled"`
	}
	if err := s.Services.Campaigns.JSON(r.Context(), http.MethodPost, "/inbox/handled", map[string]any{"conversations": keys}, &out); err != nil {
		return 0, err
	}
	p := principalOf(r)
	s.touch(r, p, keys...)
	s.audit(r, p, "inbox.handled", strconv.Itoa(len(keys))+" conversations", strconv.Itoa(out.Handled)+" replies")
	return len(keys), nil
}

// apiConversations lists the inbox one row per member, newest first,
// with the filters of the page: status (open, handled, all), campaign_id,
// tag, and mine (conversations the caller answered or marked handled).
// It reads at most inboxShown rows (more says there were others).
func (s *Server) apiConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filterOf(url.Values{"status": {q.Get("status")}, "campaign": {q.Get("campaign_id")}, "tag": {q.Get("tag")}, "mine": {q.Get("mine")},
		"overdue": {q.Get("overdue")}})
	if st := q.Get("status"); st != "" && st != f.Status && !f.Overdue {
		s.writeJSONError(w, r, apperr.Invalid("status", "%q: use open, handled or all", st))
		return
	}
	_, names := s.campaignNames(r.Context())
	rows, more, err := s.conversations(r.Context(), principalOf(r), f, names)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	type member struct {
		ID       string `json:"id,omitempty"`
		Name     string `json:"name"`
		Worksite string `json:"worksite,omitempty"`
	}
	type row struct {
		Conversation string    `json:"conversation"`
		Member       member    `json:"member"`
		Latest       inboxItem `json:"latest"`
		CampaignName string    `json:"campaign_name,omitempty"`
		Count        int       `json:"count"`
		Open         int       `json:"open"`
		Mine         bool      `json:"mine"`
		Overdue      bool      `json:"overdue"`
		AssigneeName string    `json:"assignee_name,omitempty"`
	}
	out := make([]row, 0, len(rows))
	for _, c := range rows {
		out = append(out, row{Conversation: c.Key, Member: member{ID: c.ContactID, Name: c.Name, Worksite: c.Worksite},
			Latest: c.Latest, CampaignName: c.CampaignName, Count: c.Count, Open: c.Open, Mine: c.Mine,
			Overdue: c.Overdue, AssigneeName: c.AssigneeName})
	}
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusOK, map[string]any{"conversations": out, "more": more})
}

// apiHandledMany marks conversations handled at once:
// {"conversations": [...]}, as the conversation field names them.
func (s *Server) apiHandledMany(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Conversations []string `json:"conversations"`
	}
	if err := web.DecodeJSON(r, &req); err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	if len(req.Conversations) == 0 {
		s.writeJSONError(w, r, apperr.Invalid("conversations", "name at least one conversation"))
		return
	}
	n, err := s.handleConversations(r, req.Conversations)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"conversations": n})
}
