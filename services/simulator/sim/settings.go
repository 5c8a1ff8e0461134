package sim

import (
	"fmt"
	"sync"
	"time"
)

// CallbackOrder says in which order the automatic status callbacks of one
// message are posted.
type CallbackOrder string

// Callback orders.
const (
	// CallbackInOrder posts sent, then delivered (or undelivered).
	CallbackInOrder CallbackOrder = "in_order"
	// CallbackReversed posts delivered (or undelivered), then sent.
	CallbackReversed CallbackOrder = "reversed"
	// CallbackShuffled posts a message's callbacks, repeats included, in a
	// random order.
	CallbackShuffled CallbackOrder = "shuffled"
)

func (o CallbackOrder) valid() bool {
	return o == CallbackInOrder || o == CallbackReversed || o == CallbackShuffled
}

// settings are the knobs tests may turn while the simulator runs.
type settings struct {
	mu              sync.RWMutex
	latency         time.Duration
	order           CallbackOrder
	repeat          int
	autoEmailEvents bool
	emailRepeat     int
}

// settingsJSON is the body of GET and PATCH /sim/settings; PATCH changes
// only the fields it has.
type settingsJSON struct {
	Latency          *string        `json:"latency,omitempty"`
	CallbackOrder    *CallbackOrder `json:"callback_order,omitempty"`
	CallbackRepeat   *int           `json:"callback_repeat,omitempty"`
	AutoEmailEvents  *bool          `json:"auto_email_events,omitempty"`
	EmailEventRepeat *int           `json:"email_event_repeat,omitempty"`
}

func (st *settings) snapshot() settingsJSON {
	st.mu.RLock()
	defer st.mu.RUnlock()
	latency, order, repeat := st.latency.String(), st.order, st.repeat
	auto, emailRepeat := st.autoEmailEvents, st.emailRepeat
	return settingsJSON{Latency: &latency, CallbackOrder: &order, CallbackRepeat: &repeat,
		AutoEmailEvents: &auto, EmailEventRepeat: &emailRepeat}
}

// apply validates and applies the fields p has, all or none.
func (st *settings) apply(p settingsJSON) error {
	var latency time.Duration
	if p.Latency != nil {
		d, err := time.ParseDuration(*p.Latency)
		if err != nil || d < 0 {
			return fmt.Errorf("latency %q: want a non-negative duration like 200ms", *p.Latency)
		}
		latency = d
	}
	if p.CallbackOrder != nil && !p.CallbackOrder.valid() {
		return fmt.Errorf("callback_order %q: want in_order, reversed or shuffled", *p.CallbackOrder)
	}
	if p.CallbackRepeat != nil && *p.CallbackRepeat < 1 {
		return fmt.Errorf("callback_repeat %d: want at least 1", *p.CallbackRepeat)
	}
	if p.EmailEventRepeat != nil && *p.EmailEventRepeat < 1 {
		return fmt.Errorf("email_event_repeat %d: want at least 1", *p.EmailEventRepeat)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if p.Latency != nil {
		st.latency = latency
	}
	if p.CallbackOrder != nil {
		st.order = *p.CallbackOrder
	}
	if p.CallbackRepeat != nil {
		st.repeat = *p.CallbackRepeat
	}
	if p.AutoEmailEvents != nil {
		st.autoEmailEvents = *p.AutoEmailEvents
	}
	if p.EmailEventRepeat != nil {
		st.emailRepeat = *p.EmailEventRepeat
	}
	return nil
}

// Latency returns the delay added before answering each Messages.json and
// mail/send request.
func (s *Server) Latency() time.Duration {
	s.settings.mu.RLock()
	defer s.settings.mu.RUnlock()
	return s.settings.latency
}

// SetLatency changes the delay added before answering each Messages.json
// and mail/send request; 0 or less removes it. A client that gives up
// during the delay has sent nothing: the request is not processed.
func (s *Server) SetLatency(d time.Duration) {
	s.settings.mu.Lock()
	s.settings.latency = max(d, 0)
	s.settings.mu.Unlock()
}

// SetCallbackOrder changes the order of the automatic status callbacks of
// messages whose callbacks have not started yet. An unknown order panics.
func (s *Server) SetCallbackOrder(o CallbackOrder) {
	if !o.valid() {
		panic(fmt.Sprintf("sim: SetCallbackOrder: unknown order %q", o))
	}
	s.settings.mu.Lock()
	s.settings.order = o
	s.settings.mu.Unlock()
}

// SetCallbackRepeat makes each automatic status callback be posted n times
// (at least once).
func (s *Server) SetCallbackRepeat(n int) {
	s.settings.mu.Lock()
	s.settings.repeat = max(n, 1)
	s.settings.mu.Unlock()
}

// SetAutoEmailEvents turns the automatic processed and delivered SendGrid
// events for accepted emails on or off.
func (s *Server) SetAutoEmailEvents(on bool) {
	s.settings.mu.Lock()
	s.settings.autoEmailEvents = on
	s.settings.mu.Unlock()
}

// SetEmailEventRepeat makes each automatic event batch be posted n times
// (at least once), as SendGrid sometimes delivers events more than once.
func (s *Server) SetEmailEventRepeat(n int) {
	s.settings.mu.Lock()
	s.settings.emailRepeat = max(n, 1)
	s.settings.mu.Unlock()
}

func (s *Server) callbackShape() (CallbackOrder, int) {
	s.settings.mu.RLock()
	defer s.settings.mu.RUnlock()
	return s.settings.order, s.settings.repeat
}

func (s *Server) emailEventSettings() (auto bool, repeat int) {
	s.settings.mu.RLock()
	defer s.settings.mu.RUnlock()
	return s.settings.autoEmailEvents, s.settings.emailRepeat
}
