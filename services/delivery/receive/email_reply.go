package receive

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/mailer"
	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/services/delivery/review"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
	"github.com/musterhq/muster/shared/consent"
	"github.com/musterhq/muster/shared/events"
	"github.com/musterhq/muster/shared/logging"
)

// Mailer sends one email; the email provider's client is one. Nil when
// email is not configured: then no confirmation goes out.
type Mailer interface {
	Send(ctx context.Context, b provider.EmailBatch) (string, error)
}

// EmailReplies hears members' replies to campaign emails, which the email
// provider's inbound webhook posts: the same reading as a text (consent.Read), an
// opt-out suppressing the sender's address before the webhook answers,
// and every other reply going to the organizers' inbox beside the texts.
type EmailReplies struct {
	store  *store.Store
	mail   Mailer
	domain string
	org    func() string
	zone   func() *time.Location
	now    func() time.Time
	log    *zap.Logger
}

// NewEmailReplies builds the receiver. domain is the inbound mail host of
// the reply addresses (mailer.ReplyAddress); mail sends opt-out
// confirmations (nil for none); org names the organization in them;
// zone is the organization's time zone, for a possible opt-out's
// business-day deadline; clock stamps claims and suppressions (nil is
// time.Now).
func NewEmailReplies(st *store.Store, mail Mailer, domain string, org func() string, zone func() *time.Location, clock func() time.Time, log *zap.Logger) *EmailReplies {
	if clock == nil {
		clock = time.Now
	}
	return &EmailReplies{store: st, mail: mail, domain: domain, org: org, zone: zone, now: clock, log: log}
}

// evidenceLimit bounds the reply text kept as a consent change's evidence.
const evidenceLimit = 500

// EmailReply acts on one reply. It is claimed first by its provider id,
// the same for every post of the email, so the provider posting it again
// changes nothing. The message it answers is found from the reply
// address; the reply is the member's only when it comes from the address
// that message went to. An opt-out from anyone else still takes the
// sender's own address off (the reading that protects whoever wrote),
// but is not put on the member's record.
func (r *EmailReplies) EmailReply(ctx context.Context, e provider.InboundEmail) error {
	msgID, replyAddr := "", ""
	for _, a := range e.Recipients {
		if id := mailer.ReplyMessageID(a, r.domain); id != "" {
			msgID, replyAddr = id, a
			break
		}
	}
	if replyAddr == "" {
		replyAddr = e.Recipients[0]
	}
	var answered *store.Message
	if msgID != "" {
		m, err := r.store.Get(ctx, msgID)
		switch {
		case apperr.KindOf(err) == apperr.KindNotFound:
		case err != nil:
			return err
		case m.Channel == string(events.ChannelEmail):
			answered = &m
		}
	}
	member := answered != nil && strings.EqualFold(strings.TrimSpace(answered.To), e.From)
	text := ReplyText(e.Text)
	if text == "" && !isReplySubject(e.Subject) {
		// A fresh mail to the reply address, its word in the subject.
		text = strings.TrimSpace(e.Subject)
	}
	rec := store.Inbound{ProviderID: e.ProviderID, Channel: string(events.ChannelEmail), From: e.From, To: replyAddr, Body: text}
	claim, err := r.store.ClaimInbound(ctx, rec, r.now())
	if err != nil {
		return err
	}
	if claim.Handled {
		return nil
	}
	reading := consent.Read(text)
	var campaignID, contactID string
	if member {
		campaignID, contactID = answered.CampaignID, answered.ContactID
	}
	fields := []zap.Field{zap.String("inbound_id", claim.ID), zap.String("campaign_id", campaignID), zap.String("contact_id", contactID),
		zap.Bool("member", member), zap.Bool("mapped", answered != nil)}
	var keyword string
	confirm := false
	switch reading.Meaning {
	case consent.OptOut:
		keyword = string(consent.OptOut)
		added, err := r.suppress(ctx, e, text, reading, claim)
		if err != nil {
			return err
		}
		confirm = added
		r.log.Info("email address opted out by reply", append(fields, logging.Email("from", e.From), zap.String("reason", reading.Reason), zap.Bool("new", added))...)
	case consent.Review:
		// Might be an opt-out: it waits in the review queue for an
		// organizer, and is shown in the inbox meanwhile.
		keyword = string(consent.Review)
		due, warn := review.Deadline(claim.ReceivedAt, r.zone())
		rec.Review = &store.ReviewDeadline{DueAt: due, WarnAt: warn}
		r.log.Info("email reply may be an opt-out; recorded for review", append(fields, zap.String("reason", reading.Reason))...)
	}
	rec.ID, rec.Keyword, rec.Reason, rec.CampaignID, rec.ContactID = claim.ID, keyword, reading.Reason, campaignID, contactID
	// Only a reply to one of our emails reaches the inbox: mail to any
	// other address at the domain (spam, mostly) is recorded, and an
	// opt-out in it honoured, but nobody is shown it.
	// An automatic answer (out of office) is recorded, and an opt-out in
	// it honoured, but it is no member talking: it stays out of the inbox.
	var announce *events.InboundReceived
	if answered != nil && (!e.Automatic || keyword != "") {
		announce = &events.InboundReceived{
			Meta:       events.NewMeta(events.TypeInboundReceived, events.VersionInbound, claim.ID, r.now()),
			ProviderID: e.ProviderID, Channel: events.ChannelEmail, From: e.From, To: replyAddr, Body: text,
			Keyword: keyword, CampaignID: campaignID, ContactID: contactID,
		}
		announce.ID = "in." + e.ProviderID
	}
	if _, _, err := r.store.RecordInbound(ctx, rec, r.now(), announce); err != nil {
		return err
	}
	if confirm {
		r.confirm(ctx, e.From, claim.ID, reading.Lang)
	}
	return nil
}

// suppress takes the sender's address off email at once, as of when the
// reply was first received, with the consent event for the ledger
// written in the same transaction.
func (r *EmailReplies) suppress(ctx context.Context, e provider.InboundEmail, text string, rd consent.Reading, claim store.Claim) (bool, error) {
	evidence := fmt.Sprintf("%s (inbound %s)", truncate(text, evidenceLimit), claim.ID)
	ch := consent.Change{
		Channel: events.ChannelEmail, Address: e.From, Change: events.ConsentOptedOut, Source: events.SourceInboundEmailReply,
		Evidence: evidence, Reason: rd.Reason, At: claim.ReceivedAt, Key: "email-reply-stop." + claim.ID, Correlation: claim.ID,
	}
	return r.store.Suppress(ctx, store.Suppression{
		Channel: string(events.ChannelEmail), Address: e.From, Reason: "member replied: " + rd.Reason,
		Source: events.SourceInboundEmailReply, Evidence: evidence, At: claim.ReceivedAt,
		Announce: ch.Event(r.now()),
		// A second opt-out (after the unsubscribe link, say) is evidence
		// for the ledger too; its key is this reply's, so a post the
		// provider repeats is announced once.
		AnnounceRepeat: true,
	})
}

// confirm sends the one confirmation of an email opt-out: claimed first,
// so it is sent once at most. A failure is logged, not returned: the
// opt-out stands, and a resend could be a second confirmation.
func (r *EmailReplies) confirm(ctx context.Context, addr, inboundID, lang string) {
	if r.mail == nil {
		return
	}
	first, err := r.store.ClaimConfirmation(ctx, addr, inboundID, r.now())
	if err != nil || !first {
		if err != nil {
			r.log.Warn("opt-out confirmation not sent", zap.String("inbound_id", inboundID), zap.Error(err))
		}
		return
	}
	subject, text := confirmation(r.org(), lang)
	_, err = r.mail.Send(ctx, provider.EmailBatch{
		Subject: subject,
		Text:    text,
		// Ids only in custom_args, as for every email.
		Recipients: []provider.EmailRecipient{{Email: addr, CustomArgs: []provider.Field{{Name: "inbound_id", Value: inboundID}}}},
	})
	if err != nil {
		r.log.Warn("opt-out confirmation not sent", zap.String("inbound_id", inboundID), zap.Error(err))
		return
	}
	if err := r.store.ConfirmationSent(ctx, addr, inboundID, r.now()); err != nil {
		r.log.Warn("opt-out confirmation sent but not recorded", zap.String("inbound_id", inboundID), zap.Error(err))
	}
}

// confirmation is the opt-out's confirmation in the member's language (as
// consent.Read heard it): plain, and nothing else in it.
func confirmation(org, lang string) (subject, text string) {
	if lang == consent.Spanish {
		return "Ya no recibirá correos de " + org, fmt.Sprintf("Ya no recibirá más correos de %s.", org)
	}
	return "You are unsubscribed from " + org, fmt.Sprintf("You will get no more emails from %s.", org)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// replyPrefixRe matches the prefixes mail clients put before a subject
// they answer or forward, in the languages members write in.
var replyPrefixRe = regexp.MustCompile(`(?i)^\s*(re|aw|rv|res|fw|fwd|tr|sv|vs)\s*(\[\d+\])?\s*:`)

// isReplySubject reports whether a subject is a client's answer to ours
// ("Re: Contract vote"): it holds our words, not the member's.
func isReplySubject(s string) bool { return replyPrefixRe.MatchString(s) }

// Where the quoted original begins, in the clients members use. A
// header line may wrap ("On Mon, Dec 1, 2026 at 9:00 AM Local 1199 <" then
// "alerts@local1199.org> wrote:"), so the start of one is matched with
// its end on the same or the next line.
var (
	attributionStart = regexp.MustCompile(`(?i)^(on|el|le|am|em|op)\s.+`)
	attributionEnd   = regexp.MustCompile(`(?i)(wrote|escribió|escribio|a écrit|schrieb|escreveu|schreef)\s*:\s*$`)
	separatorRe      = regexp.MustCompile(`(?i)^(-{2,}\s*(original message|mensaje original|forwarded message|mensaje reenviado)\s*-{2,}|_{10,}|begin forwarded message:)$`)
	// Outlook's quoted header block: "From: ..." then "Sent:"/"Date:"
	// (Spanish "De:" then "Enviado:"/"Fecha:") within a few lines.
	headerFromRe = regexp.MustCompile(`(?i)^\*?(from|de)\s*:\*?\s`)
	headerNextRe = regexp.MustCompile(`(?i)^\*?(sent|date|enviado|fecha|to|para)\s*:\*?\s`)
	mobileSigRe  = regexp.MustCompile(`(?i)^(sent from my|enviado desde mi|get outlook for|sent from outlook|sent from yahoo mail)\b`)
)

// ReplyText is what the member wrote in a reply: the text before the
// quoted original, without lines quoted with ">", a signature after "-- "
// or a mobile client's "Sent from my iPhone". A quoted footer ("reply
// STOP", "Unsubscribe: ...") is ours, not the member's, and must never be
// read as their opt-out. When nothing stands before the quote (a member
// who answers below it), the unquoted lines after it are the reply.
func ReplyText(body string) string {
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n"), "\n")
	at, ends := quoteStart(lines)
	top := keep(lines[:at])
	if strings.TrimSpace(top) != "" || at == len(lines) {
		return top
	}
	// Answered below the quote: the unquoted lines after the
	// attribution, up to any further quoted original.
	rest := lines[ends:]
	next, _ := quoteStart(rest)
	return keep(rest[:next])
}

// quoteStart finds the first line of the quoted original and the line
// after its marker; len(lines) when there is none.
func quoteStart(lines []string) (at, after int) {
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case separatorRe.MatchString(t):
			return i, i + 1
		case attributionStart.MatchString(t) && attributionEnd.MatchString(t):
			return i, i + 1
		case attributionStart.MatchString(t) && i+1 < len(lines) && attributionEnd.MatchString(strings.TrimSpace(lines[i+1])) &&
			!strings.HasPrefix(strings.TrimSpace(lines[i+1]), ">"):
			return i, i + 2
		case headerFromRe.MatchString(t) && headerBlock(lines[i+1:]):
			return i, len(lines) // Outlook quotes the original unmarked, to the end
		}
	}
	return len(lines), len(lines)
}

// headerBlock reports whether a quoted header line follows within three.
func headerBlock(lines []string) bool {
	for i := 0; i < len(lines) && i < 3; i++ {
		if headerNextRe.MatchString(strings.TrimSpace(lines[i])) {
			return true
		}
	}
	return false
}

// keep drops quoted lines and stops at a signature.
func keep(lines []string) string {
	var out []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if l == "-- " || t == "--" || mobileSigRe.MatchString(t) {
			break
		}
		if strings.HasPrefix(t, ">") {
			continue
		}
		out = append(out, strings.TrimRight(l, " \t"))
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
