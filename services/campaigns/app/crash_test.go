package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"testing"
	"time"

	"github.com/musterhq/muster/services/campaigns/app"
	"github.com/musterhq/muster/shared/events"
)

// TestFanoutStoppedHalfwayResumesExactlyOnce: a 10,000-member fan-out is
// stopped part way (its replica shut down mid-page), and two fresh
// replicas take it over from the cursor. Every member gets exactly one
// send request: every key is in the SEND stream once, and what was
// published twice (the page in flight at the stop) is no more than one
// page, so the fan-out resumed rather than started over.
func TestFanoutStoppedHalfwayResumesExactlyOnce(t *testing.T) {
	const members, page = 10_000, 250
	h := newHarness(t, false, func(c *app.Config) { c.FanoutPageSize = page })
	h.dir.add(rally(members)...)
	h.dir.delay = 10 * time.Millisecond // contacts takes a moment per page, so the stop lands mid-way
	first := h.start()
	out := h.outbox()

	id := create(t, first.url, map[string]any{"name": "Big", "body": "Hi {{first_name}}, vote Thursday. Reply STOP to opt out.", "audience": map[string]string{"tag": "rally"}})
	if code := call(t, "POST", first.url+"/campaigns/"+id+"/launch", nil, nil); code != 202 {
		t.Fatalf("launch = %d", code)
	}
	testkit.Eventually(t, "the fan-out to be under way", func() bool { return h.raw.Load() >= 4_000 })
	first.stop(t)
	stoppedAt := h.raw.Load()
	if stoppedAt >= members {
		t.Fatalf("the fan-out finished (%d published) before it could be stopped", stoppedAt)
	}

	second, third := h.start(), h.start()
	if c := get(t, second.url, id); c.Status != "launching" {
		t.Fatalf("after the stop the campaign is %s, want launching", c.Status)
	}
	testkit.Eventually(t, "the fan-out to complete", func() bool { return get(t, third.url, id).Status == "launched" })
	testkit.Eventually(t, "every request to reach the stream's reader", func() bool { return out.len() >= members })
	time.Sleep(100 * time.Millisecond) // anything extra would arrive now

	out.mu.Lock()
	defer out.mu.Unlock()
	if len(out.msgs) != members || len(out.keys) != members {
		t.Fatalf("%d requests under %d keys in the stream, want %d of each", len(out.msgs), len(out.keys), members)
	}
	for _, m := range rally(members) {
		key := events.IdempotencyKey(id, 0, m.ContactID, events.ChannelSMS)
		if n := out.keys[key]; n != 1 {
			t.Fatalf("%s: %d requests, want 1", m.ContactID, n)
		}
	}
	raw := h.raw.Load()
	if raw < members || raw > members+page {
		t.Errorf("%d requests published in all; want between %d and %d (at most the page in flight again)", raw, members, members+page)
	}
	if c := get(t, second.url, id); c.Targeted != members {
		t.Errorf("targeted = %d, want %d", c.Targeted, members)
	}
	t.Logf("stopped after %d published; %d published in all", stoppedAt, raw)
}
