package campaign

import "time"

// StepKind is what a scheduled step sends.
type StepKind string

// The kinds of step. Step 0 is always the send.
const (
	StepSend     StepKind = "send"
	StepReminder StepKind = "reminder"
	StepUpdate   StepKind = "update"
	StepCancel   StepKind = "cancel"
)

// Part is the message a step of this kind sends.
func (k StepKind) Part() Part {
	switch k {
	case StepReminder:
		return PartReminder
	case StepUpdate:
		return PartUpdate
	case StepCancel:
		return PartCancel
	default:
		return PartMain
	}
}

// Action is what the scheduler does with a step whose time has come.
type Action int

// The scheduler's choices.
const (
	Wait   Action = iota // not now: paused, or the invitation is still going out
	Start                // fan it out
	Skip                 // too late to mean anything (the meeting has begun)
	Cancel               // the campaign was cancelled
)

// Due decides what happens to a due step of a campaign at now.
func Due(c Campaign, kind StepKind, now time.Time) Action {
	if kind == StepCancel {
		return Start // the cancellation notice is what a cancelled meeting still sends
	}
	switch c.Status {
	case StatusCancelled:
		return Cancel
	case StatusPaused:
		return Wait
	}
	switch kind {
	case StepSend:
		if c.Status == StatusScheduled {
			return Start
		}
		return Cancel // launched already some other way: nothing left to do
	case StepReminder:
		if c.Status != StatusLaunched {
			return Wait // reminders follow the invitation, never overtake it
		}
		if c.Meeting == nil || !now.Before(c.Meeting.StartsAt) {
			return Skip
		}
		return Start
	case StepUpdate:
		if c.Status == StatusLaunching || c.Status == StatusLaunched {
			return Start
		}
		return Skip
	}
	return Skip
}
