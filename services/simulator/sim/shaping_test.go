package sim

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCallbackShaping checks the order and number of automatic callbacks,
// set in Config or at run time, and that the stored status ends final.
func TestCallbackShaping(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		runtime func(t *testing.T, h *harness)
		fault   FaultKind
		want    []string // statuses in arrival order; sorted when shuffled
		sorted  bool
		final   string
	}{
		{name: "default in order", want: []string{"sent", "delivered"}, final: "delivered"},
		{name: "reversed", cfg: Config{CallbackOrder: CallbackReversed},
			want: []string{"delivered", "sent"}, final: "delivered"},
		{name: "repeated twice", cfg: Config{CallbackRepeat: 2},
			want: []string{"sent", "sent", "delivered", "delivered"}, final: "delivered"},
		{name: "reversed three times", cfg: Config{CallbackOrder: CallbackReversed, CallbackRepeat: 3},
			want: []string{"delivered", "delivered", "delivered", "sent", "sent", "sent"}, final: "delivered"},
		{name: "reversed undelivered", cfg: Config{CallbackOrder: CallbackReversed}, fault: FaultUndelivered,
			want: []string{"undelivered", "sent"}, final: "undelivered"},
		{name: "shuffled keeps the number", cfg: Config{CallbackOrder: CallbackShuffled, CallbackRepeat: 2},
			want: []string{"delivered", "delivered", "sent", "sent"}, sorted: true, final: "delivered"},
		{name: "set at run time", runtime: func(t *testing.T, h *harness) {
			h.sim.SetCallbackOrder(CallbackReversed)
			h.sim.SetCallbackRepeat(2)
		}, want: []string{"delivered", "delivered", "sent", "sent"}, final: "delivered"},
		{name: "set over http", runtime: func(t *testing.T, h *harness) {
			var out map[string]any
			body := map[string]any{"callback_order": "reversed", "callback_repeat": 2}
			if code := doJSON(t, http.MethodPatch, h.srv.URL+"/sim/settings", body, &out); code != http.StatusOK ||
				out["callback_order"] != "reversed" || out["callback_repeat"] != 2.0 {
				t.Fatalf("PATCH /sim/settings = %d %v", code, out)
			}
		}, want: []string{"delivered", "delivered", "sent", "sent"}, final: "delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wh := newHook(t)
			tt.cfg.AutoCallbacks = true
			h := newHarness(t, tt.cfg)
			if tt.runtime != nil {
				tt.runtime(t, h)
			}
			if tt.fault != "" {
				h.sim.SetFaults([]Fault{{Kind: tt.fault}})
			}
			sid := sendWithCallback(t, h, wh.srv.URL+"/status?tenant=t1")
			var got []string
			for range tt.want {
				r := wh.next(t)
				if r.Form["MessageSid"] != sid || r.Form["SmsStatus"] != r.Form["MessageStatus"] {
					t.Errorf("callback = %v", r.Form)
				}
				if !r.valid(testToken) {
					t.Errorf("%s callback signature rejected by twilio-go", r.Form["MessageStatus"])
				}
				wantCode := ""
				if r.Form["MessageStatus"] == "undelivered" {
					wantCode = "30006"
				}
				if r.Form["ErrorCode"] != wantCode {
					t.Errorf("%s callback ErrorCode = %q, want %q", r.Form["MessageStatus"], r.Form["ErrorCode"], wantCode)
				}
				got = append(got, r.Form["MessageStatus"])
			}
			if tt.sorted {
				sort.Strings(got)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("callbacks = %v, want %v", got, tt.want)
			}
			waitStatus(t, h.sim, sid, tt.final)
			wh.none(t)
			if m, _ := h.sim.Message(sid); m.Status != tt.final {
				t.Errorf("stored status = %s after all callbacks, want %s", m.Status, tt.final)
			}
		})
	}
}

func TestShuffledCallbacksVary(t *testing.T) {
	steps := []callbackStep{{status: "sent"}, {status: "delivered"}}
	seen := map[string]bool{}
	for range 200 {
		var names []string
		for _, st := range shapeCallbacks(steps, CallbackShuffled, 2) {
			names = append(names, st.status)
		}
		if len(names) != 4 {
			t.Fatalf("shuffled %d callbacks, want 4", len(names))
		}
		seen[strings.Join(names, ",")] = true
	}
	// {sent, sent, delivered, delivered} has 6 orders; 200 draws see most.
	if len(seen) < 4 {
		t.Errorf("200 shuffles gave only %d orders: %v", len(seen), seen)
	}
}

func TestSettingsRoute(t *testing.T) {
	h := newHarness(t, Config{Latency: 5 * time.Millisecond, CallbackRepeat: 2, AutoEmailEvents: true})
	var out map[string]any
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/settings", nil, &out); code != http.StatusOK {
		t.Fatalf("GET = %d", code)
	}
	want := map[string]any{"latency": "5ms", "callback_order": "in_order", "callback_repeat": 2.0,
		"auto_email_events": true, "email_event_repeat": 1.0}
	if len(out) != len(want) {
		t.Errorf("settings = %v, want %v", out, want)
	}
	for k, v := range want {
		if out[k] != v {
			t.Errorf("%s = %v, want %v", k, out[k], v)
		}
	}
	if code := doJSON(t, http.MethodPatch, h.srv.URL+"/sim/settings",
		map[string]any{"auto_email_events": false, "email_event_repeat": 3}, &out); code != http.StatusOK ||
		out["auto_email_events"] != false || out["email_event_repeat"] != 3.0 || out["callback_repeat"] != 2.0 {
		t.Errorf("PATCH = %d %v", code, out)
	}
	for _, bad := range []map[string]any{
		{"latency": "soon"}, {"latency": "-1s"}, {"callback_order": "sideways"}, {"callback_repeat": 0},
		{"email_event_repeat": 0}, {"callback_repeat": 2, "colour": "red"},
		// One bad field rejects the whole patch.
		{"callback_order": "reversed", "callback_repeat": -1},
	} {
		var e struct {
			Error string `json:"error"`
		}
		if code := doJSON(t, http.MethodPatch, h.srv.URL+"/sim/settings", bad, &e); code != http.StatusBadRequest || e.Error == "" {
			t.Errorf("PATCH %v = %d %+v, want 400", bad, code, e)
		}
	}
	if order, repeat := h.sim.callbackShape(); order != CallbackInOrder || repeat != 2 {
		t.Errorf("a rejected PATCH changed the shape to %s x%d", order, repeat)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("SetCallbackOrder accepted an unknown order")
			}
		}()
		h.sim.SetCallbackOrder("sideways")
	}()
}
