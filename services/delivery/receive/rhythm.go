package receive

import (
	"context"
	"time"

	"github.com/musterhq/muster/services/delivery/provider"
	"github.com/musterhq/muster/shared/consent"
)

// Rhythm applies a member's rhythm keyword (NIGHTS, DAYS, PAUSE n,
// RESUME, LESS, MORE, PREFS) and returns the confirmation; rhythm.Service
// is one.
type Rhythm interface {
	Apply(ctx context.Context, from string, rd consent.Reading, messageSID string, at time.Time) (string, error)
	// Link is the member's signed preferences link ("" for none).
	Link(address string) string
}

// WithRhythm makes the receiver act on members' rhythm keywords; without
// it they are recorded like any reply and answered with nothing.
func (r *Receiver) WithRhythm(h Rhythm) { r.rhythm = h }

// withLink adds the member's preferences link to a HELP reply, so a
// member who asks for help finds their own hours and pause as well as
// STOP.
func (r *Receiver) withLink(help, from string) string {
	if r.rhythm == nil || help == "" {
		return help
	}
	if link := r.rhythm.Link(from); link != "" {
		return help + "\n" + link
	}
	return help
}

// applyRhythm acts on a rhythm keyword as of at, when delivery first
// received it. A member who is opted out may still set their rhythm (it
// applies if they opt back in), but gets no confirmation: nothing but an
// opt-out's own is texted to a suppressed number.
func (r *Receiver) applyRhythm(ctx context.Context, in provider.Inbound, rd consent.Reading, at time.Time, suppressed bool) (string, error) {
	if r.rhythm == nil {
		return "", nil
	}
	reply, err := r.rhythm.Apply(ctx, in.From, rd, in.ProviderID, at)
	if err != nil || suppressed {
		return "", err
	}
	return reply, nil
}
