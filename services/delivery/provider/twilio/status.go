package twilio

import "github.com/musterhq/muster/services/delivery/status"

// Status maps a Twilio MessageStatus to ours. ok is false for statuses
// that say nothing about an outbound message (receiving, received).
func Status(s string) (st status.Status, ok bool) {
	st, ok = statuses[s]
	return st, ok
}

var statuses = map[string]status.Status{
	"accepted":            status.Accepted,
	"scheduled":           status.Accepted,
	"queued":              status.Accepted,
	"sending":             status.Accepted,
	"sent":                status.Sent,
	"delivered":           status.Delivered,
	"read":                status.Delivered,
	"undelivered":         status.Undelivered,
	"failed":              status.Failed,
	"canceled":            status.Cancelled,
	"partially_delivered": status.Delivered,
}
