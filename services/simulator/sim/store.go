package sim

import (
	"sync"
	"time"
)

// Message is one outbound SMS as the simulator recorded it, so tests can see
// exactly what the platform sent and where its lifecycle stands.
type Message struct {
	Sid                 string `json:"sid"`
	AccountSid          string `json:"account_sid"`
	To                  string `json:"to"`
	From                string `json:"from"`
	MessagingServiceSid string `json:"messaging_service_sid"`
	Body                string `json:"body"`
	Status              string `json:"status"`
	ErrorCode           string `json:"error_code,omitempty"`
	Direction           string `json:"direction"`
	NumSegments         int    `json:"num_segments"`
	StatusCallback      string `json:"status_callback"`
	ValidityPeriod      int    `json:"validity_period,omitempty"`
	// Fault is the injected fault applied to a message that was recorded
	// anyway (503_after_accept, timeout_after_accept, 30006); empty for a
	// normal send.
	Fault     FaultKind `json:"fault,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// directionAPI is the direction of messages the platform sent through the
// Messages API, as opposed to TwiML replies.
const directionAPI = "outbound-api"

// messageStore keeps outbound messages in send order with an index by SID,
// and keeps running counts of the outbound-api messages so tests can poll
// them without copying the outbox. Its lock is held only for slice and map
// operations.
type messageStore struct {
	mu       sync.RWMutex
	msgs     []Message
	index    map[string]int
	apiCount int                 // outbound-api messages
	sentTo   map[string]int      // outbound-api messages by To
	pairs    map[string]int      // outbound-api messages by dupKey
	dups     map[string]struct{} // dupKeys with a count above 1
}

func newMessageStore() *messageStore {
	st := &messageStore{}
	st.clear()
	return st
}

// clear empties the store; the caller holds the lock or owns st.
func (st *messageStore) clear() {
	st.msgs = nil
	st.index = make(map[string]int)
	st.apiCount = 0
	st.sentTo = make(map[string]int)
	st.pairs = make(map[string]int)
	st.dups = make(map[string]struct{})
}

// dupKey is how Duplicates names a (To, Body) pair: To, a space, then Body.
// An E.164 number has no spaces, so the key is unambiguous.
func dupKey(to, body string) string { return to + " " + body }

func (st *messageStore) add(m Message) {
	st.mu.Lock()
	st.index[m.Sid] = len(st.msgs)
	st.msgs = append(st.msgs, m)
	if m.Direction == directionAPI {
		st.apiCount++
		st.sentTo[m.To]++
		k := dupKey(m.To, m.Body)
		st.pairs[k]++
		if st.pairs[k] > 1 {
			st.dups[k] = struct{}{}
		}
	}
	st.mu.Unlock()
}

// count returns the number of outbound-api messages.
func (st *messageStore) count() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.apiCount
}

// countTo returns the number of outbound-api messages sent to `to`.
func (st *messageStore) countTo(to string) int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.sentTo[to]
}

// length returns the number of messages of every direction.
func (st *messageStore) length() int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.msgs)
}

// duplicates returns the (To, Body) pairs sent more than once.
func (st *messageStore) duplicates() map[string]int {
	st.mu.RLock()
	defer st.mu.RUnlock()
	out := make(map[string]int, len(st.dups))
	for k := range st.dups {
		out[k] = st.pairs[k]
	}
	return out
}

// since returns a copy of the messages from position n on.
func (st *messageStore) since(n int) []Message {
	st.mu.RLock()
	defer st.mu.RUnlock()
	n = min(max(n, 0), len(st.msgs))
	out := make([]Message, len(st.msgs)-n)
	copy(out, st.msgs[n:])
	return out
}

func (st *messageStore) get(sid string) (Message, bool) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	i, ok := st.index[sid]
	if !ok {
		return Message{}, false
	}
	return st.msgs[i], true
}

// setStatus records a new status (and error code) for sid and returns the
// updated message; false means the message is unknown, e.g. after a reset.
func (st *messageStore) setStatus(sid, status, errorCode string, now time.Time) (Message, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i, ok := st.index[sid]
	if !ok {
		return Message{}, false
	}
	m := &st.msgs[i]
	m.Status = status
	m.ErrorCode = errorCode
	m.UpdatedAt = now
	return *m, true
}

// list returns a copy of the messages, only those sent to `to` when it is
// not empty.
func (st *messageStore) list(to string) []Message {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if to == "" {
		out := make([]Message, len(st.msgs))
		copy(out, st.msgs)
		return out
	}
	out := []Message{}
	for _, m := range st.msgs {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// statusRank orders statuses by how far along a message is, so automatic
// callbacks posted out of order do not move the stored status back. These
// are Twilio's statuses, not Muster's (events.StatusRank): Twilio's
// "sending" is below "sent" and "read" is past "delivered", while Muster
// reads all three as steps it ranks differently. The simulator speaks
// Twilio's ladder, so it keeps its own.
var statusRank = map[string]int{
	"sending": 1, "sent": 2,
	"delivered": 3, "undelivered": 3, "failed": 3, "read": 4,
}

// advance is setStatus for automatic callbacks: the stored status changes
// only when status is at least as far along as the current one. It returns
// the stored message either way; false means the message is unknown.
func (st *messageStore) advance(sid, status, errorCode string, now time.Time) (Message, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i, ok := st.index[sid]
	if !ok {
		return Message{}, false
	}
	m := &st.msgs[i]
	if statusRank[status] >= statusRank[m.Status] {
		m.Status = status
		m.ErrorCode = errorCode
		m.UpdatedAt = now
	}
	return *m, true
}

func (st *messageStore) reset() {
	st.mu.Lock()
	st.clear()
	st.mu.Unlock()
}
