package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/musterhq/muster/services/contacts/contact"
	"github.com/musterhq/muster/services/contacts/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/web"
)

func (h *Handler) consent(w http.ResponseWriter, r *http.Request) {
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	history, err := h.store.ConsentHistory(r.Context(), c)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	current, err := h.store.ConsentStates(r.Context(), c)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	if history == nil {
		history = []store.ConsentEntry{}
	}
	if current == nil {
		current = []store.ConsentState{}
	}
	rh, err := h.rhythmOf(r, c)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"contact_id": c.ID, "current": current, "history": history, "rhythm": rh})
}

// rhythmView is a member's own rhythm as the API shows it: the text
// channel's choice at the top (window, pause, fewer texts are texting
// rules), every address's current choice, and the history of changes.
type rhythmView struct {
	// Window is empty when the member follows the organization's hours.
	Window      string              `json:"window"`
	PausedUntil *time.Time          `json:"paused_until"`
	FewerTexts  bool                `json:"fewer_texts"`
	Language    string              `json:"language"`
	Channels    string              `json:"channels"`
	Current     []store.Rhythm      `json:"current"`
	History     []store.RhythmEntry `json:"history"`
}

// rhythmOf reads a contact's rhythm. A pause that has ended is shown as
// none: delivery no longer holds texts for it.
func (h *Handler) rhythmOf(r *http.Request, c contact.Contact) (rhythmView, error) {
	current, history, err := h.store.Rhythms(r.Context(), c)
	if err != nil {
		return rhythmView{}, err
	}
	v := rhythmView{Current: current, History: history}
	if v.Current == nil {
		v.Current = []store.Rhythm{}
	}
	if v.History == nil {
		v.History = []store.RhythmEntry{}
	}
	now := h.store.Now()
	for _, cur := range current {
		if cur.Channel == string(events.ChannelSMS) {
			v.Window, v.FewerTexts = cur.Window, cur.FewerTexts
			if cur.PausedUntil != nil && cur.PausedUntil.After(now) {
				v.PausedUntil = cur.PausedUntil
			}
		}
		if v.Language == "" || cur.Channel == string(events.ChannelSMS) {
			if cur.Language != "" {
				v.Language = cur.Language
			}
			if cur.Channels != "" {
				v.Channels = cur.Channels
			}
		}
	}
	return v, nil
}

type consentRequest struct {
	Channel string `json:"channel"`
	// Actor is who acted: an organizer's name or email, kept as evidence.
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
}

// consentEvent validates an organizer's consent request against the
// contact and builds the event recording it.
func (h *Handler) consentEvent(r *http.Request, change string) (contact.Contact, events.ConsentChanged, error) {
	var req consentRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		return contact.Contact{}, events.ConsentChanged{}, err
	}
	ch := events.Channel(req.Channel)
	if !ch.Valid() {
		return contact.Contact{}, events.ConsentChanged{}, apperr.Invalid("channel", "want sms or email, got %q", req.Channel)
	}
	actor := strings.TrimSpace(req.Actor)
	if actor == "" {
		return contact.Contact{}, events.ConsentChanged{}, apperr.Invalid("actor", "name who is making this change")
	}
	if len(actor) > 200 || len(req.Reason) > 1000 {
		return contact.Contact{}, events.ConsentChanged{}, apperr.Invalid("actor", "actor and reason are limited to 200 and 1000 bytes")
	}
	c, err := h.store.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return contact.Contact{}, events.ConsentChanged{}, err
	}
	addr := string(c.Phone)
	if ch == events.ChannelEmail {
		addr = string(c.Email)
	}
	if addr == "" {
		return contact.Contact{}, events.ConsentChanged{}, apperr.Invalid("channel", "the contact has no %s address", ch)
	}
	now := h.store.Now().UTC()
	ev := events.ConsentChanged{
		Meta:    events.NewMeta(events.TypeConsentChanged, events.VersionConsent, "", now),
		Channel: ch, Address: addr, Change: change, Source: events.SourceOrganizer,
		Evidence: "organizer: " + actor, Reason: strings.TrimSpace(req.Reason), At: now,
	}
	return c, ev, nil
}

// optOut records an organizer's opt-out and publishes it for delivery
// (through the outbox, so it is never lost).
func (h *Handler) optOut(w http.ResponseWriter, r *http.Request) {
	c, ev, err := h.consentEvent(r, events.ConsentOptedOut)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	status, err := h.store.OrganizerOptOut(r.Context(), ev)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	h.queued()
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"contact_id": c.ID, "channel": ev.Channel, "address": ev.Address, "status": status, "event_id": ev.ID,
	})
}

// optIn lifts an opt-out an organizer or an import made. One the member
// made (a STOP, a bounce, a spam report) is a 409: only the member lifts it.
func (h *Handler) optIn(w http.ResponseWriter, r *http.Request) {
	c, ev, err := h.consentEvent(r, events.ConsentResubscribe)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	changed, err := h.store.OrganizerOptIn(r.Context(), ev)
	if err != nil {
		web.WriteError(w, r, h.log, err)
		return
	}
	resp := map[string]any{"contact_id": c.ID, "channel": ev.Channel, "address": ev.Address, "status": consent.Subscribed, "changed": changed}
	if changed {
		h.queued()
		resp["event_id"] = ev.ID
	}
	web.WriteJSON(w, http.StatusOK, resp)
}

// exportConsent streams the whole consent ledger as CSV, as a legal
// request needs it. Evidence is raw text members sent, so every cell is
// neutralized against formula injection.
func (h *Handler) exportConsent(w http.ResponseWriter, r *http.Request) {
	var out *csvStream
	start := func() error {
		out = startCSV(w, "consent-ledger.csv")
		return out.row("event_id", "channel", "address", "change", "source", "evidence", "reason", "occurred_at", "recorded_at")
	}
	err := start()
	if err == nil {
		err = h.store.EachConsentEntry(r.Context(), func(e store.ConsentEntry) error {
			return out.row(e.EventID, e.Channel, e.Address, e.Change, e.Source, e.Evidence, e.Reason,
				e.OccurredAt.UTC().Format(time.RFC3339Nano), e.RecordedAt.UTC().Format(time.RFC3339Nano))
		})
	}
	out.finish(r, h.log, err)
}
