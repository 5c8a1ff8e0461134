package sim

import (
	"sync"
	"time"
)

// Message is one outbound SMS as the simulator recorded it, so tests can see
// exactly what the platform sent and where its lifecycle stands.
type Message struct {
	Sid                 string    `json:"sid"`
	AccountSid          string    `json:"account_sid"`
	To                  string    `json:"to"`
	From                string    `json:"from"`
	MessagingServiceSid string    `json:"messaging_service_sid"`
	Body                string    `json:"body"`
	Status              string    `json:"status"`
	ErrorCode           string    `json:"error_code,omitempty"`
	Direction           string    `json:"direction"`
	NumSegments         int       `json:"num_segments"`
	StatusCallback      string    `json:"status_callback"`
	ValidityPeriod      int       `json:"validity_period,omitempty"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
}

// messageStore keeps outbound messages in send order with an index by SID.
// Its lock is held only for slice and map operations.
type messageStore struct {
	mu    sync.RWMutex
	msgs  []Message
	index map[string]int
}

func newMessageStore() *messageStore {
	return &messageStore{index: make(map[string]int)}
}

func (st *messageStore) add(m Message) {
	st.mu.Lock()
	st.index[m.Sid] = len(st.msgs)
	st.msgs = append(st.msgs, m)
	st.mu.Unlock()
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

func (st *messageStore) reset() {
	st.mu.Lock()
	st.msgs = nil
	st.index = make(map[string]int)
	st.mu.Unlock()
}
