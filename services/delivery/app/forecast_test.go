package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/shared/events"
)

func (h *harness) post(path string, body any, out any) int {
	h.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := api().Post("http://"+h.addr+path, "application/json", bytes.NewReader(b))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// The launch forecast judges an audience by the rules the worker applies,
// reserving nothing: at 10:00 in New York a NIGHTS member waits for
// 16:00, a paused one for the pause's end (the last to go), the others go
// now; and the text then sent to the NIGHTS member waits as forecast.
func TestForecastJudgesAsTheWorkerDoes(t *testing.T) {
	h := newHarness(t, setup{})
	ny, _ := time.LoadLocation("America/New_York")
	y, mo, d := h.midday.In(ny).Date()
	h.clock.Set(time.Date(y, mo, d, 10, 0, 0, 0, ny))
	h.start(nil)
	nights, paused, plain, night := phone(811), phone(812), phone(813), phone(814)
	for from, kw := range map[string]string{nights: "NIGHTS", paused: "PAUSE 3"} {
		if _, err := h.sim.SendReply(context.Background(), simReply(from, kw)); err != nil {
			t.Fatal(err)
		}
	}
	var f struct {
		Now    int            `json:"now"`
		Later  map[string]int `json:"later"`
		LastAt *time.Time     `json:"last_at"`
	}
	members := []map[string]string{
		{"to": nights, "time_zone": "America/New_York"},
		{"to": paused, "time_zone": "America/New_York"},
		{"to": plain, "time_zone": "America/New_York"},
		// The shift-aware default is off: a night-shift member goes now.
		{"to": night, "time_zone": "America/New_York", "default_window": "nights"},
	}
	if code := h.post("/forecast", map[string]any{"members": members}, &f); code != http.StatusOK {
		t.Fatalf("forecast = %d", code)
	}
	if f.Now != 2 || f.Later["member_window"] != 1 || f.Later["pause"] != 1 || len(f.Later) != 2 {
		t.Fatalf("forecast = %+v, want 2 now, 1 member_window, 1 pause", f)
	}
	if f.LastAt == nil || f.LastAt.Sub(h.clock.Now()) < 71*time.Hour {
		t.Fatalf("last at %v, want the pause's end three days on", f.LastAt)
	}
	until, reason := h.deferred(h.send(nights, "Rally Friday", func(r *events.SendRequested) { r.TimeZone = "America/New_York" }))
	if four := time.Date(y, mo, d, 16, 0, 0, 0, ny); !until.Equal(four) || reason != "member_window" {
		t.Fatalf("sent: deferred until %s for %q, as forecast want %s", until, reason, four)
	}
	var e struct{ Error string }
	many := make([]map[string]string, 1001)
	for i := range many {
		many[i] = map[string]string{"to": plain}
	}
	if code := h.post("/forecast", map[string]any{"members": many}, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "1000") {
		t.Errorf("a forecast of 1001 members = %d %q, want 400 naming the limit", code, e.Error)
	}
}
