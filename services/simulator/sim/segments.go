package sim

import "github.com/musterhq/muster/shared/sms"

// Segments reports how many SMS segments body is billed as, the way Twilio
// counts them (GSM-7 or UCS-2, never splitting a character); the
// simulator returns it as num_segments.
func Segments(body string) int { return sms.Measure(body).Segments }
