package api

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/sender"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/web"
)

// inbox lists members' replies that need a person: open ones by default
// (status=handled or all for the rest), newest first, for one campaign
// with campaign_id, one member's with conversation, older than before
// (RFC 3339) for the next page.
func (h *Handler) inbox(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := limitOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	iq := store.InboxQuery{Status: q.Get("status"), CampaignID: q.Get("campaign_id"), Conversation: q.Get("conversation"), Limit: limit}
	if s := q.Get("before"); s != "" {
		if iq.Before, err = time.Parse(time.RFC3339Nano, s); err != nil {
			h.fail(w, r, apperr.Invalid("before", "is not an RFC 3339 time"))
			return
		}
	}
	items, err := h.Store.Inbox(r.Context(), iq)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

// InboxReplyRequest is an organizer's answer to a member.
type InboxReplyRequest struct {
	Body string `json:"body"`
}

// inboxReply answers a member through delivery, like any text: opt-outs,
// quiet hours and rate limits apply. An Idempotency-Key header makes a
// retried request send nothing twice.
func (h *Handler) inboxReply(w http.ResponseWriter, r *http.Request) {
	var req InboxReplyRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	body := strings.TrimSpace(req.Body)
	switch {
	case body == "":
		h.fail(w, r, apperr.Invalid("body", "is required"))
		return
	case utf8.RuneCountInString(body) > campaign.MaxBody:
		h.fail(w, r, apperr.Invalid("body", "is %d characters; the most a text can be is %d", utf8.RuneCountInString(body), campaign.MaxBody))
		return
	}
	ctx := r.Context()
	it, err := h.Store.InboxItem(ctx, chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if it.Channel != string(events.ChannelSMS) {
		h.fail(w, r, apperr.Invalid("id", "only text replies can be answered from the inbox"))
		return
	}
	campaignID := "inbox"
	if it.CampaignID != nil {
		campaignID = *it.CampaignID
	}
	contactID := it.ContactID
	if contactID == "" {
		contactID = "inbox." + it.ID // delivery needs one; this names no member
	}
	nonce := events.NewID()
	if k := r.Header.Get("Idempotency-Key"); k != "" {
		sum := sha256.Sum256([]byte(it.ID + "\x00" + k))
		nonce = hex.EncodeToString(sum[:16])
	}
	key := sender.InboxKey(campaignID, nonce, events.ChannelSMS)
	rep, created, err := h.Store.AddInboxReply(ctx, it.ID, body, key)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.Clock()
	msg := events.SendRequested{
		Meta:           events.KeyedMeta(key, events.TypeSendRequested, it.EventID, now),
		IdempotencyKey: key, CampaignID: campaignID, Step: sender.InboxStep, ContactID: contactID, Channel: events.ChannelSMS,
		To: it.From, Body: rep.Body, Urgent: true, // answering the member's own text
	}
	if err := h.Sender.Send(ctx, msg); err != nil {
		h.fail(w, r, apperr.Unavailable(err, "could not hand the reply to delivery"))
		return
	}
	// Answering the member answers what they had said up to here.
	n, campaigns, err := h.Store.HandleAnswered(ctx, it, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, id := range campaigns {
		h.Hub.Notify(id)
	}
	h.Log.Info("inbox reply sent", zap.String("inbox_id", it.ID), zap.Bool("new", created), zap.Int("handled", n))
	web.WriteJSON(w, http.StatusAccepted, map[string]any{"reply": rep, "already_sent": !created, "conversation": it.Conversation})
}

// conversations lists the inbox one row per member (store.Conversations):
// status open (default), handled or all; campaign_id for one campaign.
func (h *Handler) conversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := limitOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.Store.Conversations(r.Context(), store.InboxQuery{Status: q.Get("status"), CampaignID: q.Get("campaign_id"), Limit: limit})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"conversations": list})
}

// HandledRequest names the conversations to mark handled at once.
type HandledRequest struct {
	Conversations []string `json:"conversations"`
}

// maxHandled bounds one bulk "handled".
const maxHandled = 500

// handledMany marks every open reply in the named conversations handled.
func (h *Handler) handledMany(w http.ResponseWriter, r *http.Request) {
	var req HandledRequest
	if err := web.DecodeJSON(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case len(req.Conversations) == 0:
		h.fail(w, r, apperr.Invalid("conversations", "name at least one conversation"))
		return
	case len(req.Conversations) > maxHandled:
		h.fail(w, r, apperr.Invalid("conversations", "%d conversations; at most %d at once", len(req.Conversations), maxHandled))
		return
	}
	n, campaigns, err := h.Store.HandleConversations(r.Context(), req.Conversations, h.Clock())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, id := range campaigns {
		h.Hub.Notify(id)
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"handled": n})
}

func (h *Handler) inboxHandled(w http.ResponseWriter, r *http.Request) {
	it, err := h.Store.HandleInbox(r.Context(), chi.URLParam(r, "id"), h.Clock())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if it.CampaignID != nil {
		h.Hub.Notify(*it.CampaignID)
	}
	web.WriteJSON(w, http.StatusOK, it)
}
