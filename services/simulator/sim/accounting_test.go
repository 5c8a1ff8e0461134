package sim

import (
	"maps"
	"net/http"
	"testing"
)

func TestAccounting(t *testing.T) {
	const a, b, c = "+15550000001", "+15550000002", "+15550000003"
	wh := newHook(t)
	wh.setRespond(func(w http.ResponseWriter, _ hookRequest) {
		_, _ = w.Write([]byte(`<Response><Message>Thanks!</Message></Response>`))
	})
	h := newHarness(t, Config{InboundURL: wh.srv.URL + "/inbound"})

	// Rule 0 rejects one send to c; rule 1 records one send to b anyway.
	h.sim.SetFaults([]Fault{{To: c, Count: 1, Kind: FaultRateLimited}, {To: b, Count: 1, Kind: FaultUnavailableAfterAccept}})
	sends := []struct{ to, body string }{{a, "x"}, {a, "x"}, {b, "y"}, {a, "z"}, {c, "w"}, {b, "y"}, {a, "x"}}
	for _, s := range sends {
		_, _ = sendTo(h.api, s.to, s.body, "")
	}
	if _, err := h.sim.SendReply(t.Context(), Reply{From: a, To: "+15550001111", Body: "hello"}); err != nil {
		t.Fatalf("SendReply: %v", err)
	}
	wh.next(t)

	// 6 recorded sends (the 429 is not) plus one TwiML reply to a.
	if n := h.sim.Count(); n != 6 {
		t.Errorf("Count = %d, want 6", n)
	}
	if n := h.sim.Len(); n != 7 || len(h.sim.Outbox()) != 7 {
		t.Errorf("Len = %d, outbox %d, want 7", n, len(h.sim.Outbox()))
	}
	for to, want := range map[string]int{a: 4, b: 2, c: 0, "+15559999999": 0} {
		if got := h.sim.SentTo(to); got != want {
			t.Errorf("SentTo(%s) = %d, want %d", to, got, want)
		}
	}
	wantDups := map[string]int{a + " x": 3, b + " y": 2}
	if got := h.sim.Duplicates(); !maps.Equal(got, wantDups) {
		t.Errorf("Duplicates = %v, want %v", got, wantDups)
	}

	tail := h.sim.OutboxSince(5)
	if len(tail) != 2 || tail[0].To != a || tail[0].Body != "x" || tail[1].Direction != "outbound-reply" || tail[1].Body != "Thanks!" {
		t.Errorf("OutboxSince(5) = %+v", tail)
	}
	if got := h.sim.OutboxSince(7); len(got) != 0 {
		t.Errorf("OutboxSince(end) = %+v", got)
	}
	if got := h.sim.OutboxSince(-3); len(got) != 7 {
		t.Errorf("OutboxSince(-3) has %d messages, want 7", len(got))
	}

	var stats struct {
		Messages   int            `json:"messages"`
		Count      int            `json:"count"`
		SentTo     *int           `json:"sent_to"`
		Duplicates map[string]int `json:"duplicates"`
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/stats?to=+15550000002", nil, &stats); code != http.StatusOK ||
		stats.Messages != 7 || stats.Count != 6 || stats.SentTo == nil || *stats.SentTo != 2 || !maps.Equal(stats.Duplicates, wantDups) {
		t.Errorf("GET /sim/stats = %d %+v", code, stats)
	}
	var out struct {
		Messages []Message `json:"messages"`
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/outbox?since=6", nil, &out); code != http.StatusOK ||
		len(out.Messages) != 1 || out.Messages[0].Body != "Thanks!" {
		t.Errorf("GET /sim/outbox?since=6 = %d %+v", code, out)
	}
	if code := doJSON(t, http.MethodGet, h.srv.URL+"/sim/outbox?since=x", nil, nil); code != http.StatusBadRequest {
		t.Errorf("GET /sim/outbox?since=x = %d, want 400", code)
	}

	h.sim.Reset()
	if h.sim.Count() != 0 || h.sim.Len() != 0 || h.sim.SentTo(a) != 0 || len(h.sim.Duplicates()) != 0 {
		t.Errorf("after Reset: count %d len %d sentTo %d dups %v", h.sim.Count(), h.sim.Len(), h.sim.SentTo(a), h.sim.Duplicates())
	}
	if _, err := sendTo(h.api, a, "x", ""); err != nil || h.sim.Count() != 1 || len(h.sim.Duplicates()) != 0 {
		t.Errorf("send after Reset: err %v, count %d, dups %v", err, h.sim.Count(), h.sim.Duplicates())
	}
}
