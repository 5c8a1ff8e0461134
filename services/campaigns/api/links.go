package api

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/musterhq/muster/services/campaigns/campaign"
	"github.com/musterhq/muster/services/campaigns/message"
	"github.com/musterhq/muster/services/campaigns/sender"
	"github.com/musterhq/muster/services/campaigns/store"
	"github.com/musterhq/muster/services/campaigns/token"
	"github.com/musterhq/muster/shared/events"
)

// The pages members reach from their links. Opening a link (GET) only
// shows a page with a button; the button (POST) records the answer. Mail
// scanners and link previews open every link in an email, and must never
// sign a petition or answer an RSVP for the member.

// link checks a link's token for a purpose and loads its campaign; on
// failure it has already answered with a page.
func (h *Handler) link(w http.ResponseWriter, r *http.Request, purpose token.Purpose) (token.Claims, campaign.Campaign, bool) {
	claims, err := h.Settings.Links.Signer().Verify(chi.URLParam(r, "token"), h.Clock())
	switch {
	case errors.Is(err, token.ErrExpired):
		page(w, http.StatusGone, "This link has expired", "The link is no longer valid. Reply to our text or contact your organizer.")
		return claims, campaign.Campaign{}, false
	case err != nil || claims.Purpose != purpose:
		page(w, http.StatusBadRequest, "This link is not valid", "Please use the link exactly as you received it.")
		return claims, campaign.Campaign{}, false
	}
	c, err := h.Store.Get(r.Context(), claims.CampaignID)
	if err != nil {
		page(w, http.StatusNotFound, "Not found", "There is nothing at this link any more.")
		return claims, campaign.Campaign{}, false
	}
	if c.Status == campaign.StatusCancelled {
		what := "This campaign has ended."
		if c.Meeting != nil {
			what = "This meeting was cancelled."
		}
		page(w, http.StatusGone, "Closed", what)
		return claims, campaign.Campaign{}, false
	}
	return claims, c, true
}

func notRecorded(contactID string) bool {
	return contactID == sender.PreviewContactID || contactID == sender.TestContactID
}

func (h *Handler) rsvpPage(w http.ResponseWriter, r *http.Request) {
	_, c, ok := h.link(w, r, token.RSVP)
	if !ok || c.Meeting == nil {
		if ok {
			page(w, http.StatusBadRequest, "This link is not valid", "")
		}
		return
	}
	m := c.Meeting
	lang, _ := c.ContentFor("")
	when := message.FormatTime(m.StartsAt, m.TimeZone, lang)
	body := fmt.Sprintf(`<p><strong>%s</strong><br>%s<br>%s</p>
<form method="post"><button name="answer" value="yes">Yes, I'll be there</button>
<button name="answer" value="no">No, I can't make it</button></form>`,
		html.EscapeString(headline(c.PublicTitle(lang))), html.EscapeString(when), html.EscapeString(m.Where()))
	pageHTML(w, http.StatusOK, "Will you come?", body)
}

func (h *Handler) rsvpAnswer(w http.ResponseWriter, r *http.Request) {
	claims, c, ok := h.link(w, r, token.RSVP)
	if !ok {
		return
	}
	answer := r.PostFormValue("answer")
	if c.Meeting == nil || (answer != "yes" && answer != "no") {
		page(w, http.StatusBadRequest, "Please choose yes or no", "")
		return
	}
	if notRecorded(claims.ContactID) {
		page(w, http.StatusOK, "Preview", "This link was in a preview or a test; nothing was recorded.")
		return
	}
	now := h.Clock()
	_, err := h.Store.RecordRSVP(r.Context(), store.Answer{
		CampaignID: c.ID, ContactID: claims.ContactID, Answer: answer, Channel: channelOf(claims), Source: store.SourceLink,
		EventID: "link." + events.NewID(), At: now,
	})
	if err != nil {
		h.Log.Error("recording rsvp from link", zap.String("campaign_id", c.ID), zap.Error(err))
		page(w, http.StatusServiceUnavailable, "Please try again", "We could not record your answer just now.")
		return
	}
	h.Hub.Notify(c.ID)
	if answer == "yes" {
		page(w, http.StatusOK, "See you there", "Thank you. You're on the list for "+c.PublicTitle("")+".")
		return
	}
	page(w, http.StatusOK, "Thanks for letting us know", "We won't send you reminders for "+c.PublicTitle("")+".")
}

func channelOf(c token.Claims) string {
	if c.Channel == "" {
		return "link"
	}
	return string(c.Channel)
}

func (h *Handler) signPage(w http.ResponseWriter, r *http.Request) {
	_, c, ok := h.link(w, r, token.Sign)
	if !ok {
		return
	}
	// Members see the petition's own title, never the internal name.
	title := c.PetitionTitle()
	if title == "" {
		title = "Sign the petition"
	}
	pageHTML(w, http.StatusOK, html.EscapeString(title),
		`<p>Add your name with one click.</p><form method="post"><button name="sign" value="1">Sign</button></form>`)
}

func (h *Handler) signAnswer(w http.ResponseWriter, r *http.Request) {
	claims, c, ok := h.link(w, r, token.Sign)
	if !ok {
		return
	}
	if c.Petition == nil || !c.Petition.Ask.Signs() {
		page(w, http.StatusBadRequest, "This link is not valid", "")
		return
	}
	if notRecorded(claims.ContactID) {
		page(w, http.StatusOK, "Preview", "This link was in a preview or a test; nothing was recorded.")
		return
	}
	ctx := r.Context()
	m, _, err := h.Store.Recipient(ctx, c.ID, claims.ContactID)
	if err == nil {
		_, err = h.Store.RecordAction(ctx, store.Answer{
			CampaignID: c.ID, ContactID: claims.ContactID, Answer: "sign", Channel: channelOf(claims), Source: store.SourceLink,
			EventID: "link." + events.NewID(), At: h.Clock(), FirstName: m.FirstName, LastName: m.LastName,
		})
	}
	if err != nil {
		h.Log.Error("recording signature from link", zap.String("campaign_id", c.ID), zap.Error(err))
		page(w, http.StatusServiceUnavailable, "Please try again", "We could not record your signature just now.")
		return
	}
	h.Hub.Notify(c.ID)
	page(w, http.StatusOK, "Thank you for signing", "Your name is on it. Thank you for standing together.")
}

func page(w http.ResponseWriter, status int, title, text string) {
	pageHTML(w, status, html.EscapeString(title), "<p>"+html.EscapeString(text)+"</p>")
}

// pageHTML writes a small page; title and body are already escaped.
func pageHTML(w http.ResponseWriter, status int, title, body string) {
	// Cache-Control, Referrer-Policy (the token is in the URL) and the
	// rest come from web.MemberPages on the routes.
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s</title></head><body><main><h1>%s</h1>%s</main></body></html>`, title, title, body)
}

// headline starts a title shown on its own with a capital ("The meeting"
// when the meeting has no title of its own).
func headline(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}
