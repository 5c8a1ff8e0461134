// Package plain puts what the services say in the words organizers use:
// times in the organization's zone ("Tue 8 Dec, 16:00 EST"), numbers as
// people write them ("(212) 555-0101"), and statuses, consent changes and
// deferral reasons as phrases ("opted out by text", "waiting (member's
// hours)") instead of the services' terms (opted_out, inbound_sms,
// provider_event). The console's pages use it through template functions;
// the JSON API keeps the terms, which scripts match on.
//
// A term this package does not know is shown as it is, with underscores
// made spaces: a new status added in a service reads oddly, never blank.
package plain

import (
	"strings"
	"time"
)

// Time is t in loc as organizers read it: "Tue 8 Dec, 16:00 EST", with
// the year when it is not now's ("Mon 7 Dec 2025, 09:30 EST"). The zero
// time is empty.
func Time(t time.Time, loc *time.Location, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	if t.Year() != now.In(loc).Year() {
		return t.Format("Mon 2 Jan 2006, 15:04 MST")
	}
	return t.Format("Mon 2 Jan, 15:04 MST")
}

// Phone writes a North American number as people read it,
// "(212) 555-0101"; any other address (an email, a number elsewhere) is
// shown as it is.
func Phone(addr string) string {
	if len(addr) == 12 && addr[:2] == "+1" {
		for _, c := range addr[2:] {
			if c < '0' || c > '9' {
				return addr
			}
		}
		return "(" + addr[2:5] + ") " + addr[5:8] + "-" + addr[8:]
	}
	return addr
}

// messageStatus are delivery's message statuses in words.
var messageStatus = map[string]string{
	"queued":      "waiting to send",
	"sending":     "sending",
	"accepted":    "handed to the carrier",
	"sent":        "sent",
	"delivered":   "delivered",
	"undelivered": "not delivered",
	"failed":      "failed",
	"suppressed":  "not sent: opted out",
	"expired":     "not sent: too late",
	"cancelled":   "cancelled",
	"unknown":     "checking with the carrier",
	"received":    "received",
}

// MessageStatus is a message's status in words; a message held back says
// why ("waiting (quiet hours)").
func MessageStatus(status, deferReason string) string {
	if status == "queued" && deferReason != "" {
		return "waiting (" + DeferReason(deferReason) + ")"
	}
	return word(messageStatus, status)
}

// campaignStatus are campaigns' campaign statuses in words.
var campaignStatus = map[string]string{
	"draft":     "draft",
	"scheduled": "scheduled",
	"launching": "sending",
	"launched":  "launched",
	"paused":    "paused",
	"cancelled": "cancelled",
	"completed": "finished",
}

// CampaignStatus is a campaign's status in words.
func CampaignStatus(status string) string { return word(campaignStatus, status) }

// deferReasons are why delivery holds a text back, in words. Delivery
// has named them with spaces ("quiet hours") and with underscores
// (member_window); both are here.
var deferReasons = map[string]string{
	"quiet hours":   "quiet hours",
	"quiet_hours":   "quiet hours",
	"frequency cap": "daily or weekly cap",
	"frequency_cap": "daily or weekly cap",
	"cap":           "daily or weekly cap",
	"daily_cap":     "daily cap",
	"weekly_cap":    "weekly cap",
	"member_window": "member's own hours",
	"pause":         "member paused texts",
	"paused":        "member paused texts",
	"fewer_texts":   "member asked for fewer texts",
	"state_rule":    "state rule",
	"rate limit":    "sending rate limit",
	"rate_limit":    "sending rate limit",
}

// DeferReason is why a text waits, in words ("member's own hours").
func DeferReason(reason string) string { return word(deferReasons, reason) }

// consentSources are how a consent change came about, as the end of a
// phrase ("opted out " + "by text").
var consentSources = map[string]string{
	"inbound_sms":         "by text",
	"email_unsubscribe":   "by the email unsubscribe link",
	"inbound_email_reply": "by email reply",
	"organizer":           "by an organizer",
	"provider_event":      "by the carrier",
	"import":              "by an import",
	"api":                 "through the API",
	"join_keyword":        "by texting the join word",
	"web_form":            "on their preferences page",
}

// Source is how a consent change came about ("by the carrier").
func Source(source string) string { return word(consentSources, source) }

// consentChanges are the ledger's changes in words.
var consentChanges = map[string]string{
	"opted_out":    "opted out",
	"resubscribed": "opted back in",
	"subscribed":   "subscribed",
	"bounced":      "bounced",
	"complained":   "marked as spam",
}

// Consent is a consent status or change with how it came about: "opted
// out by text", "removed by an organizer", "bounced".
func Consent(status, source string) string {
	switch {
	case status == "opted_out" && source == "organizer":
		return "removed by an organizer"
	case status == "bounced" || status == "complained" || source == "":
		return word(consentChanges, status)
	}
	return word(consentChanges, status) + " " + Source(source)
}

// word is term in words from m, or the term itself, readable.
func word(m map[string]string, term string) string {
	if w, ok := m[term]; ok {
		return w
	}
	return strings.ReplaceAll(term, "_", " ")
}

// SupportLevel says a support rating on the union's 1-5 scale in words,
// with its number: "1 · Leader" … "5 · Opposed"; 0 (or anything else) is
// "Unassessed". The scale is the AFL-CIO's "chart the workplace" one
// (docs/contacts.md, "Ratings").
func SupportLevel(level int) string {
	switch level {
	case 1:
		return "1 · Leader"
	case 2:
		return "2 · Supporter"
	case 3:
		return "3 · Undecided"
	case 4:
		return "4 · Leaning against"
	case 5:
		return "5 · Opposed"
	}
	return "Unassessed"
}

// failureCodes are the provider error codes organizers meet most, in
// words: Twilio's messaging errors and the SMTP codes SendGrid reports
// for bounces. The code itself is shown beside the words, for a talk with
// the carrier or the provider's documentation.
var failureCodes = map[string]string{
	"21211": "Not a valid phone number",
	"21408": "Texts to that country are not enabled",
	"21610": "The member had texted STOP to this number",
	"21612": "The carrier cannot reach this number",
	"21614": "Not a mobile number",
	"30001": "Too many texts waiting at the carrier",
	"30002": "The sending account is suspended",
	"30003": "Phone switched off or out of reach",
	"30004": "Blocked by the member or their carrier",
	"30005": "Number no longer in service",
	"30006": "Landline, or a carrier that cannot take texts",
	"30007": "Filtered by the carrier as spam",
	"30008": "The carrier gave no reason",
	"30010": "The text cost more than the price limit",
	"30032": "Sent from a toll-free number not yet verified",
	"30034": "Sent from a number not yet registered for business texting (10DLC)",
	"421":   "The member's mail server was busy",
	"450":   "The mailbox was unavailable for now",
	"550":   "The email address does not exist or refused the email",
	"551":   "The email address has moved",
	"552":   "The mailbox is full",
	"553":   "The email address is not accepted",
	"554":   "Refused as spam or by the receiving server's rules",
}

// failureWords are the reasons that come without a code.
var failureWords = map[string]string{
	"failed":      "Failed at the provider",
	"undelivered": "Not delivered by the carrier",
	"bounce":      "The email bounced",
	"bounced":     "The email bounced",
	"dropped":     "The email provider did not send it",
	"spamreport":  "Reported as spam",
	"blocked":     "Blocked by the receiving server",
}

// Failure is a delivery failure as campaigns counts it ("30005 unknown
// destination handset", "550 bounce", "failed") in words, with the
// provider's code beside them: "Number no longer in service (30005)".
func Failure(key string) string {
	key = strings.TrimSpace(key)
	code, rest, _ := strings.Cut(key, " ")
	if code == "" || strings.Trim(code, "0123456789") != "" {
		code, rest = "", key
	}
	rest = strings.TrimSpace(rest)
	words, ok := failureCodes[code]
	if !ok {
		words, ok = failureWords[strings.ToLower(rest)]
	}
	if !ok {
		words = strings.ReplaceAll(rest, "_", " ")
		if words == "" {
			words = "Failed"
		} else {
			words = strings.ToUpper(words[:1]) + words[1:]
		}
	}
	if code == "" {
		return words
	}
	return words + " (" + code + ")"
}
