package rhythm

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/musterhq/muster/services/delivery/quiet"
	"github.com/musterhq/muster/services/delivery/store"
	"github.com/musterhq/muster/shared/apperr"
)

// StateRule is one state's hours for texts, stricter than the federal
// 08:00 to 21:00, and its limit on messages in any 24 hours (0: none).
// Muster follows the stricter rule for everyone in the state
// (shared/design/COMPLIANCE.md, "Quiet hours and frequency"). The rules
// live in delivery's state_rules table, seeded by migration 0014 and
// edited by admins through PUT /state-rules/{state}.
type StateRule struct {
	State string `json:"state"`
	// Windows are the hours on each weekday, indexed by time.Weekday
	// (Sunday first).
	Windows   [7]quiet.Window `json:"-"`
	MaxPer24h int             `json:"max_per_24h"`
	Note      string          `json:"note,omitempty"`
	UpdatedBy string          `json:"updated_by,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// Validate refuses a state code that is not two capital letters and a
// window outside the federal 08:00 to 21:00 (a state rule can only
// narrow it).
func (r StateRule) Validate() error {
	if len(r.State) != 2 || strings.ToUpper(r.State) != r.State || r.State[0] < 'A' || r.State[0] > 'Z' || r.State[1] < 'A' || r.State[1] > 'Z' {
		return apperr.Invalid("state", "is a two-letter state code in capitals, like TX")
	}
	for d, w := range r.Windows {
		if err := w.Validate(); err != nil {
			return apperr.Invalid("windows", "%s: %v", time.Weekday(d), err)
		}
	}
	if r.MaxPer24h < 0 || r.MaxPer24h > 100 {
		return apperr.Invalid("max_per_24h", "is 0 (no limit) to 100")
	}
	return nil
}

// Narrowest is the window that holds on every day of the week: what a
// member's own window must fit in to be allowed whatever the day.
func (r StateRule) Narrowest() quiet.Window {
	w := r.Windows[0]
	for _, d := range r.Windows[1:] {
		w = intersect(w, d)
	}
	return w
}

// StateRules is the current table, swapped whole when an admin saves or
// another replica's save is read, so the send path reads it without a
// lock or a query.
type StateRules struct {
	rules atomic.Pointer[map[string]StateRule]
}

// Set replaces the table.
func (s *StateRules) Set(list []StateRule) {
	m := make(map[string]StateRule, len(list))
	for _, r := range list {
		m[r.State] = r
	}
	s.rules.Store(&m)
}

// For returns the rule of a state, nil when it has none.
func (s *StateRules) For(state string) *StateRule {
	m := s.rules.Load()
	if m == nil || state == "" {
		return nil
	}
	if r, ok := (*m)[state]; ok {
		return &r
	}
	return nil
}

//go:embed areacodes.csv
var areaCodesCSV []byte

// areaCodes maps a US area code to its state.
var areaCodes = func() map[string]string {
	m := make(map[string]string, 400)
	sc := bufio.NewScanner(bytes.NewReader(areaCodesCSV))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		npa, state, ok := strings.Cut(line, ",")
		if !ok || len(npa) != 3 || len(state) != 2 {
			// The file is compiled in; a bad line is a build mistake the
			// tests catch.
			panic(fmt.Sprintf("areacodes.csv: bad line %q", line))
		}
		m[npa] = state
	}
	return m
}()

// StateOf is the member's state: given (the contact's, from the send
// request) when there is one, else the one their US number's area code
// belongs to, else "". A number carried to another state keeps its area
// code, so the contact's own state is preferred. It reads the E.164 form
// directly (+1, then the area code): the send path asks it for every
// text, and a full parse cost 4% of the send rate's CPU. Canadian and
// Caribbean area codes are not in the table, so they give "".
func StateOf(given, phone string) string {
	if g := strings.ToUpper(strings.TrimSpace(given)); len(g) == 2 {
		return g
	}
	if len(phone) != 12 || !strings.HasPrefix(phone, "+1") {
		return ""
	}
	for _, c := range phone[2:] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return areaCodes[phone[2:5]]
}

// Refresh reads the state_rules table into the current table.
func (s *StateRules) Refresh(ctx context.Context, st *store.Store) error {
	days, err := st.StateRules(ctx)
	if err != nil {
		return err
	}
	s.Set(FromDays(days))
	return nil
}

// Run refreshes the table every interval until ctx ends, so an admin's
// edit on another replica applies here within that time.
func (s *StateRules) Run(ctx context.Context, st *store.Store, every time.Duration, log *zap.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if err := s.Refresh(ctx, st); err != nil && ctx.Err() == nil {
			log.Warn("reading state rules failed; keeping the last ones", zap.Error(err))
		}
	}
}

// FromDays groups the table's rows into one rule per state. A state
// missing a weekday's row has no texts that day: the safe reading of a
// half-written rule.
func FromDays(days []store.StateRuleDay) []StateRule {
	var out []StateRule
	idx := map[string]int{}
	for _, d := range days {
		i, ok := idx[d.State]
		if !ok {
			i = len(out)
			idx[d.State] = i
			out = append(out, StateRule{State: d.State})
		}
		r := &out[i]
		r.Windows[d.Weekday] = d.Window
		r.MaxPer24h, r.Note = d.MaxPer24h, d.Note
		if d.UpdatedAt.After(r.UpdatedAt) {
			r.UpdatedAt, r.UpdatedBy = d.UpdatedAt, d.UpdatedBy
		}
	}
	return out
}
