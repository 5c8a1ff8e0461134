package events

import (
	"fmt"
	"strings"
	"time"
)

// Defer reasons: what holds a queued text (docs/delivery.md, "Defer
// reasons"). Delivery writes them in the message log; a queued status
// event says them through DeferredReason so campaigns can count them.
const (
	DeferQuietHours   = "quiet_hours"
	DeferStateRule    = "state_rule"
	DeferMemberWindow = "member_window"
	DeferPause        = "pause"
	DeferFewerTexts   = "fewer_texts"
	DeferCap          = "cap"
)

// DeferredReason is a queued status event's reason for a text held by
// reason until until: "deferred for member window until
// 2026-12-08T21:00:00Z", readable in a log and read back by ParseDeferred.
func DeferredReason(reason string, until time.Time) string {
	return fmt.Sprintf("deferred for %s until %s", strings.ReplaceAll(reason, "_", " "), until.UTC().Format(time.RFC3339))
}

// ParseDeferred reads a reason DeferredReason wrote: the defer reason
// (member_window) and until when. ok is false for any other text.
func ParseDeferred(s string) (reason string, until time.Time, ok bool) {
	rest, found := strings.CutPrefix(s, "deferred for ")
	if !found {
		return "", time.Time{}, false
	}
	i := strings.LastIndex(rest, " until ")
	if i < 0 {
		return "", time.Time{}, false
	}
	until, err := time.Parse(time.RFC3339, rest[i+len(" until "):])
	if err != nil {
		return "", time.Time{}, false
	}
	return strings.ReplaceAll(rest[:i], " ", "_"), until, true
}
