package mailer

import (
	"github.com/musterhq/muster/shared/events"
	"strings"
)

// replySubstitution is replaced per recipient by their message's id in
// the Reply-To address.
const replySubstitution = "-reply_message_id-"

// replyPrefix starts the local part of every reply address: the part
// after it is the id of the message the member answers. A message id is
// a random-looking UUID and names no one, so the address carries no
// personal data, and it is the member's alone: a reply to it maps to
// the one message (and so campaign and contact) it answers.
const replyPrefix = "reply+"

// ReplyAddress is the Reply-To address of one message, on domain (the
// Inbound Parse host that routes mail to delivery).
func ReplyAddress(domain, messageID string) string {
	return replyPrefix + messageID + "@" + domain
}

// ReplyMessageID reads the message id from a reply address on domain
// (case-insensitive, as mail systems may fold it), or "" when the address
// is not one of ours.
func ReplyMessageID(addr, domain string) string {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || domain == "" || addr[at+1:] != strings.ToLower(domain) {
		return ""
	}
	local := addr[:at]
	if !strings.HasPrefix(local, replyPrefix) {
		return ""
	}
	id := local[len(replyPrefix):]
	if !events.IsID(id) {
		return ""
	}
	return id
}
