// Package api is the campaigns service's HTTP edge: organizers' endpoints
// (campaigns, previews, launches, results, the inbox) and the public pages
// members reach from their one-click links.
package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/contacts"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/results"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/svcauth"
	"github.com/musterhq/muster/shared/tracing"
	"github.com/musterhq/muster/shared/web"
)

// Waker is told there is work: the fan-out runner and the scheduler are
// both.
type Waker interface{ Wake() }

// Launcher is the fan-out: woken when there is work, and told which
// request launched a campaign, so the fan-out continues its trace.
type Launcher interface {
	Waker
	Launched(ctx context.Context, campaignID string)
}

// Sender publishes one send request (test sends, inbox answers).
type Sender interface {
	Send(ctx context.Context, req events.SendRequested) error
}

// Config is what the API needs to know of the organization.
type Config struct {
	// OrgZone is the organization's time zone, for meetings given none.
	OrgZone string
	// Region reads a test send's phone number typed without a country
	// code, as contacts' import does; "US" when empty.
	Region string
	// SMSRate (segments per second) and EmailRate (emails per second)
	// are the senders' configured rates, for estimated send times.
	SMSRate   float64
	EmailRate float64
	// StreamInterval is the least time between two pushes of a live
	// result stream; StreamRecount is how often a stream recounts with no
	// notice (changes recorded by another replica).
	StreamInterval time.Duration
	StreamRecount  time.Duration
}

// Deps are the parts the API uses.
type Deps struct {
	Store     *store.Store
	Fanout    Launcher
	Scheduler Waker
	Contacts  *contacts.Client
	Sender    Sender
	Settings  message.Settings
	// Org records the union's name the console sets (nil: it cannot be
	// set here).
	Org   OrgNames
	Hub   *results.Hub
	Clock func() time.Time
	Log   *zap.Logger
}

// Handler serves the campaigns API.
type Handler struct {
	Deps
	cfg Config
}

// New builds the handler.
func New(cfg Config, d Deps) *Handler {
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if cfg.Region == "" {
		cfg.Region = "US"
	}
	if cfg.OrgZone == "" {
		cfg.OrgZone = "America/New_York"
	}
	if cfg.StreamInterval <= 0 {
		cfg.StreamInterval = 250 * time.Millisecond
	}
	if cfg.StreamRecount <= 0 {
		cfg.StreamRecount = 2 * time.Second
	}
	return &Handler{Deps: d, cfg: cfg}
}

// Routes adds the API's routes to r.
func (h *Handler) Routes(r chi.Router) {
	r.Post("/campaigns", h.create)
	r.Get("/campaigns", h.list)
	r.Get("/campaigns/{id}", h.get)
	r.Put("/campaigns/{id}", h.update)
	r.Post("/campaigns/{id}/preview", h.preview)
	r.Post("/campaigns/{id}/test", h.testSend)
	r.Get("/campaigns/{id}/estimate", h.estimate)
	r.Post("/campaigns/{id}/launch", h.launchCampaign)
	r.Post("/campaigns/{id}/pause", h.pause)
	r.Post("/campaigns/{id}/resume", h.resume)
	r.Post("/campaigns/{id}/cancel", h.cancel)
	r.Post("/campaigns/{id}/reschedule", h.reschedule)
	r.Post("/campaigns/{id}/duplicate", h.duplicate)
	r.Patch("/campaigns/{id}/meeting", h.changeMeeting)
	r.Get("/campaigns/{id}/steps", h.steps)
	r.Get("/campaigns/{id}/results", h.results)
	r.Get("/campaigns/{id}/results/stream", h.stream)
	r.Get("/campaigns/{id}/rsvps", h.rsvps)
	r.Get("/campaigns/{id}/signatures", h.signatures)
	r.Get("/campaigns/{id}/calls", h.calls)
	r.Get("/campaigns/{id}/poll", h.poll)
	r.Get("/campaigns/{id}/poll-answers", h.pollAnswers)
	r.Get("/contacts/{contact}/poll-answers", h.memberPollAnswers)
	r.Get("/inbox", h.inbox)
	r.Get("/inbox/conversations", h.conversations)
	r.Post("/inbox/handled", h.handledMany)
	r.Post("/inbox/{id}/reply", h.inboxReply)
	r.Post("/inbox/{id}/handled", h.inboxHandled)
	r.Get("/settings/org-name", h.getOrgName)
	r.Put("/settings/org-name", h.putOrgName)
	// The pages members open from their links: no styles, no scripts,
	// and the member-page headers on every answer.
	links := r.With(web.MemberPages())
	links.Get(message.RSVPPath+"{token}", h.rsvpPage)
	links.Post(message.RSVPPath+"{token}", h.rsvpAnswer)
	links.Get(message.SignPath+"{token}", h.signPage)
	links.Post(message.SignPath+"{token}", h.signAnswer)
}

// PublicRoutes are the member-facing pages members reach from their
// one-click links: they answer without service credentials, since the
// signed, expiring token in the link is the credential. Every other route
// is for trusted services only.
func PublicRoutes() []svcauth.Route {
	return []svcauth.Route{
		{Method: http.MethodGet, Pattern: message.RSVPPath + "{token}"},
		{Method: http.MethodPost, Pattern: message.RSVPPath + "{token}"},
		{Method: http.MethodGet, Pattern: message.SignPath + "{token}"},
		{Method: http.MethodPost, Pattern: message.SignPath + "{token}"},
	}
}

// decodeOptional reads a JSON body when there is one: several actions
// (launch, cancel) take options but have always been called with none.
func decodeOptional(r *http.Request, v any) error {
	web.LimitBody(r, web.MaxJSONBody)
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return web.ReadError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return web.DecodeJSON(r, v)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	web.WriteError(w, r, h.Log, err)
}

func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	var d campaign.Draft
	if err := web.DecodeJSON(r, &d); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := d.Validate(h.Clock(), h.cfg.OrgZone)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err = h.Store.Create(r.Context(), c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, c)
}

func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	var d campaign.Draft
	if err := web.DecodeJSON(r, &d); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := d.Validate(h.Clock(), h.cfg.OrgZone)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err = h.Store.Update(r.Context(), chi.URLParam(r, "id"), c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

// list answers a page of campaigns, newest first: limit (at most 500,
// 100 by default) after the position after, which is the next of the
// page before; next is empty on the last page.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	limit, err := limitOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, next, err := h.Store.List(r.Context(), r.URL.Query().Get("after"), limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if list == nil {
		list = []campaign.Campaign{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaigns": list, "next": next})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	c, err := h.Store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) steps(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if _, err := h.Store.Get(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.Store.Steps(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if list == nil {
		list = []store.Step{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"steps": list})
}

// LaunchRequest says when to send; no body (or no at) is now.
type LaunchRequest struct {
	At *time.Time `json:"at"`
}

// launchCampaign starts a campaign: 202 the first time, 200 with the
// campaign as it stands for any repeat (a double click sends nothing
// twice). Everything that would make the launch pointless or wrong is
// refused first with a 4xx that changes nothing.
func (h *Handler) launchCampaign(w http.ResponseWriter, r *http.Request) {
	var req LaunchRequest
	if err := decodeOptional(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	c, err := h.Store.Get(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.Clock()
	at := now
	if c.Status == campaign.StatusDraft {
		if req.At != nil {
			if req.At.Before(now) {
				h.fail(w, r, apperr.Invalid("at", "%s is in the past", req.At.Format(time.RFC3339)))
				return
			}
			at = *req.At
		}
		if err := h.checkLaunch(ctx, &c, at); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	c, started, err := h.Store.Launch(ctx, id, at, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !started {
		web.WriteJSON(w, http.StatusOK, map[string]any{"campaign": c, "already_launched": true})
		return
	}
	h.Fanout.Launched(ctx, c.ID)
	h.Fanout.Wake()
	h.Scheduler.Wake()
	h.Log.Info("campaign launched", zap.String("campaign_id", c.ID), zap.String("kind", string(c.Kind)),
		zap.String("tag", c.Audience.Tag), zap.Time("at", at), tracing.ID(ctx))
	web.WriteJSON(w, http.StatusAccepted, map[string]any{"campaign": c, "already_launched": false})
}

// checkLaunch refuses a launch that cannot do what the organizer means: a
// meeting already begun, a text that renders over the SMS limit, an
// audience nobody in which can be reached.
func (h *Handler) checkLaunch(ctx context.Context, c *campaign.Campaign, at time.Time) error {
	if c.Meeting != nil && !c.Meeting.StartsAt.After(at) {
		return apperr.Invalid("meeting.starts_at", "the meeting starts at %s, before the invitation would go out; move it first",
			c.Meeting.StartsAt.Format(time.RFC3339))
	}
	if c.Channel.Has(events.ChannelSMS) {
		b, err := message.New(c, campaign.PartMain, 0, "", h.Settings, h.Clock())
		if err != nil {
			return err
		}
		for lang := range c.Content {
			m := sampleMember(events.Member{Language: lang})
			body := b.BuildKeyed(&m, events.ChannelSMS, "preview", h.Clock()).Body
			if n := len([]rune(body)); n > campaign.MaxBody {
				return apperr.Invalid("content."+lang+".sms", "is %d characters once filled in (links included); the most a text can be is %d", n, campaign.MaxBody)
			}
		}
	}
	var reachable bool
	for _, ch := range c.Channel.List() {
		ok, err := h.Contacts.Any(ctx, c.Audience, ch)
		if err != nil {
			if apperr.KindOf(err) == apperr.KindInvalid {
				return err
			}
			return apperr.Unavailable(err, "cannot reach contacts to check the audience")
		}
		reachable = reachable || ok
	}
	if !reachable {
		return apperr.Invalid("audience", "nobody in the audience can be reached by %s", strings.ReplaceAll(string(c.Channel), "both", "sms or email"))
	}
	return nil
}

func (h *Handler) pause(w http.ResponseWriter, r *http.Request) {
	c, err := h.Store.Pause(r.Context(), chi.URLParam(r, "id"), h.Clock())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("campaign paused", zap.String("campaign_id", c.ID))
	web.WriteJSON(w, http.StatusOK, c)
}

func (h *Handler) resume(w http.ResponseWriter, r *http.Request) {
	c, err := h.Store.Resume(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Fanout.Wake()
	h.Scheduler.Wake()
	h.Log.Info("campaign resumed", zap.String("campaign_id", c.ID), zap.String("status", string(c.Status)))
	web.WriteJSON(w, http.StatusOK, c)
}

// RescheduleRequest is a scheduled campaign's new send time.
type RescheduleRequest struct {
	At *time.Time `json:"at"`
}

// reschedule moves a scheduled campaign's send time: 400 for no time or
// one in the past (or after a meeting's start), 409 once it is sending.
func (h *Handler) reschedule(w http.ResponseWriter, r *http.Request) {
	var req RescheduleRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.Clock()
	switch {
	case req.At == nil:
		h.fail(w, r, apperr.Invalid("at", "give the new send time"))
		return
	case !req.At.After(now):
		h.fail(w, r, apperr.Invalid("at", "%s is in the past", req.At.Format(time.RFC3339)))
		return
	}
	ctx := r.Context()
	id := chi.URLParam(r, "id")
	cur, err := h.Store.Get(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if m := cur.Meeting; m != nil && !m.StartsAt.After(*req.At) {
		h.fail(w, r, apperr.Invalid("at", "the meeting starts at %s, before the invitation would go out", m.StartsAt.Format(time.RFC3339)))
		return
	}
	c, err := h.Store.Reschedule(ctx, id, req.At.UTC())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Scheduler.Wake()
	h.Log.Info("campaign rescheduled", zap.String("campaign_id", c.ID), zap.Time("at", *req.At))
	web.WriteJSON(w, http.StatusOK, c)
}

// copyPrefix starts a duplicate's name.
const copyPrefix = "Copy of "

// duplicate makes a new draft of any campaign: its kind, channels,
// audience, content, meeting or petition and urgency, never its schedule,
// status or results. The copy's name says it is one.
func (h *Handler) duplicate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := h.Store.Get(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	name := []rune(copyPrefix + c.Name)
	if len(name) > campaign.MaxName {
		name = name[:campaign.MaxName]
	}
	cp := campaign.Campaign{
		Name: strings.TrimSpace(string(name)), Kind: c.Kind, Channel: c.Channel, Body: c.Body, Audience: c.Audience,
		DefaultLanguage: c.DefaultLanguage, Content: c.Content, Meeting: c.Meeting, Petition: c.Petition,
		Urgent: c.Urgent, Status: campaign.StatusDraft,
	}
	out, err := h.Store.Create(ctx, cp)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Log.Info("campaign duplicated", zap.String("campaign_id", out.ID), zap.String("from", c.ID))
	web.WriteJSON(w, http.StatusCreated, out)
}

// CancelRequest may carry the organizer's own words for a meeting's
// cancellation notice.
type CancelRequest struct {
	Notice string `json:"notice"`
}

func (h *Handler) cancel(w http.ResponseWriter, r *http.Request) {
	var req CancelRequest
	if err := decodeOptional(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	cur, err := h.Store.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkNotice(&cur, req.Notice); err != nil {
		h.fail(w, r, err)
		return
	}
	c, notified, err := h.Store.Cancel(r.Context(), id, req.Notice, h.Clock())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Scheduler.Wake()
	h.Log.Info("campaign cancelled", zap.String("campaign_id", c.ID), zap.Bool("notified", notified))
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaign": c, "notified": notified})
}

func checkNotice(c *campaign.Campaign, notice string) error {
	if notice == "" {
		return nil
	}
	if c.Meeting == nil {
		return apperr.Invalid("notice", "only a meeting sends notices")
	}
	return campaign.CheckText("notice", notice, c.Allowed())
}

// MeetingChangeRequest edits a meeting; fields left out keep their value.
type MeetingChangeRequest struct {
	Title     *string              `json:"title"`
	StartsAt  *time.Time           `json:"starts_at"`
	TimeZone  *string              `json:"time_zone"`
	Duration  *campaign.Duration   `json:"duration"`
	Place     *string              `json:"place"`
	VideoURL  *string              `json:"video_url"`
	Reminders *[]campaign.Duration `json:"reminders"`
	// Notice replaces the default words of the update sent to those who
	// said yes.
	Notice string `json:"notice"`
}

func (h *Handler) changeMeeting(w http.ResponseWriter, r *http.Request) {
	var req MeetingChangeRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	c, err := h.Store.Get(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if c.Meeting == nil {
		h.fail(w, r, apperr.Invalid("meeting", "campaign %s is not a meeting", id))
		return
	}
	m := *c.Meeting
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = strings.TrimSpace(*v)
		}
	}
	set(&m.Title, req.Title)
	set(&m.TimeZone, req.TimeZone)
	set(&m.Place, req.Place)
	set(&m.VideoURL, req.VideoURL)
	if req.StartsAt != nil {
		m.StartsAt = req.StartsAt.UTC()
	}
	if req.Duration != nil {
		m.Duration = *req.Duration
	}
	if req.Reminders != nil {
		m.Reminders = append([]campaign.Duration{}, (*req.Reminders)...)
	}
	if err := campaign.CheckMeeting(m, h.Clock()); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkNotice(&c, req.Notice); err != nil {
		h.fail(w, r, err)
		return
	}
	c, notified, err := h.Store.ChangeMeeting(r.Context(), id, store.MeetingChange{Meeting: m, Notice: req.Notice}, h.Clock())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.Scheduler.Wake()
	h.Log.Info("meeting changed", zap.String("campaign_id", c.ID), zap.Bool("notified", notified))
	web.WriteJSON(w, http.StatusOK, map[string]any{"campaign": c, "notified": notified})
}
