package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/musterhq/muster/shared/testkit"
	"net/http"
	"strings"
	"testing"
)

func (h *harness) put(path string, body any, out any) int {
	h.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("PUT", "http://"+h.addr+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := api().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// An admin changes the HELP reply and the caps from the console: the next
// HELP answers with the new text and the new cap holds, with no restart;
// settings that break a rule are refused and change nothing.
func TestSettingsChangeWithoutRestart(t *testing.T) {
	h := newHarness(t, setup{})
	h.start(nil)
	var cur struct {
		Settings  map[string]any `json:"settings"`
		UpdatedBy string         `json:"updated_by"`
	}
	if code := h.get("/settings", &cur); code != 200 || cur.Settings["org_name"] != "Muster" {
		t.Fatalf("settings = %d %+v", code, cur)
	}
	next := map[string]any{
		"org_name": "Local 1199", "help_text": "Local 1199 alerts: call 555-0100 for a person. Msg & data rates may apply. Reply STOP to opt out.",
		"opt_out_text": "Local 1199: you are unsubscribed. Reply START to come back.", "opt_in_text": "Local 1199: welcome back. Reply STOP to opt out.",
		"send_window": "09:00-20:00", "time_zone": "America/Chicago", "cap_per_day": 1, "cap_per_week": 5,
	}
	bad := map[string]any{}
	for k, v := range next {
		bad[k] = v
	}
	bad["help_text"] = "Local 1199 alerts."
	bad["send_window"] = "07:00-22:00"
	bad["updated_by"] = "ana@local1199.org"
	var e struct{ Field, Error string }
	if code := h.put("/settings", bad, &e); code != 400 || !strings.Contains(e.Error, "STOP") || !strings.Contains(e.Error, "08:00-21:00") {
		t.Fatalf("bad settings = %d %+v", code, e)
	}
	if code := h.put("/settings", next, &e); code != 400 || e.Field != "updated_by" {
		t.Fatalf("unattributed settings = %d %+v", code, e)
	}
	next["updated_by"] = "ana@local1199.org"
	if code := h.put("/settings", next, &cur); code != 200 || cur.UpdatedBy != "ana@local1199.org" {
		t.Fatalf("save = %d %+v", code, cur)
	}

	member := phone(901)
	res, err := h.sim.SendReply(context.Background(), simReply(member, "HELP"))
	if err != nil || !strings.Contains(res.Body, "call 555-0100") {
		t.Fatalf("HELP answered %+v, %v", res, err)
	}
	h.waitStatus(h.send(member, "one"), "delivered")
	second := h.send(member, "two")
	testkit.Eventually(t, "the second text held by the new cap of one a day", func() bool {
		m, _ := h.message(second)
		return m.DeferReason == "cap"
	})
}
