package app_test

import (
	"github.com/musterhq/muster/shared/testkit"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/musterhq/muster/services/simulator/sim"
)

// metricsText is delivery's /metrics page.
func (h *harness) metricsText() string {
	h.t.Helper()
	resp, err := api().Get("http://" + h.addr + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// readyz is the status code of delivery's /readyz at path (with its
// query).
func (h *harness) readyz(path string) int {
	h.t.Helper()
	resp, err := api().Get("http://" + h.addr + path)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// notReadyToSend checks that delivery reports itself not ready while a
// channel is paused, and ready to the probe that excludes sending (its
// webhooks must keep coming).
func (h *harness) notReadyToSend() {
	h.t.Helper()
	if code := h.readyz("/readyz"); code != 503 {
		h.t.Errorf("/readyz = %d while a provider refuses our credentials, want 503", code)
	}
	if code := h.readyz("/readyz?exclude=sms-sending&exclude=email-sending"); code != 200 {
		h.t.Errorf("/readyz excluding sending = %d, want 200: webhooks must keep reaching delivery", code)
	}
}

func (h *harness) waitMetric(line string) {
	h.t.Helper()
	testkit.Eventually(h.t, "metric "+line, func() bool { return strings.Contains(h.metricsText(), line) })
}

// unsent checks that no message of keys failed, was given up on or went:
// each is queued (released back) or not yet recorded at all.
func (h *harness) unsent(keys []string) {
	h.t.Helper()
	for _, k := range keys {
		if m, ok := h.message(k); ok && m.Status != "queued" {
			h.t.Fatalf("%s is %s (%s) while the provider refuses our credentials; want it waiting", k, m.Status, m.Reason)
		}
	}
}

// While Twilio refuses our credentials, texting pauses: nothing is sent,
// nothing is failed, the alarm is up, and Twilio is not hammered. When
// the refusal ends, a probe finds it out and every queued text goes,
// each exactly once.
func TestCredentialRefusalPausesTextingAndLosesNothing(t *testing.T) {
	h := newHarness(t, setup{})
	h.sim.SetFaults([]sim.Fault{{Kind: sim.FaultUnauthorized}})
	h.start(nil)
	keys, phones := h.sendMany(2000, 20)

	h.waitMetric(`delivery_sending_paused{channel="sms"} 1`)
	h.waitMetric(`delivery_provider_auth_failures_total{provider="twilio"}`)
	never(t, "a text sent with refused credentials", func() bool {
		for _, p := range phones {
			if h.sim.SentTo(p) > 0 {
				return true
			}
		}
		return false
	}, 2*time.Second)
	h.unsent(keys)
	// No hot loop: at most the texts already in flight when the pause
	// began reached Twilio, and no probe yet (the first waits 5s).
	if f := h.sim.Faults()[0].Fired; f > len(keys) {
		t.Fatalf("twilio refused %d calls for %d texts: the pause did not hold", f, len(keys))
	}

	h.notReadyToSend()

	h.sim.SetFaults(nil) // an operator fixed the account
	h.accountFor(keys, phones)
	h.waitMetric(`delivery_sending_paused{channel="sms"} 0`)
	if code := h.readyz("/readyz"); code != 200 {
		t.Errorf("/readyz = %d after the account was fixed", code)
	}
}

// The same for email: SendGrid answering 403 (a key without the send
// scope) pauses email, loses nothing, and sends each mail once after.
func TestCredentialRefusalPausesEmailAndLosesNothing(t *testing.T) {
	h := newHarness(t, setup{})
	h.sim.SetEmailFaults([]sim.Fault{{Kind: sim.FaultForbidden}})
	h.start(nil)
	addrs := []string{"ana@local1199.org", "bo@local1199.org", "cy@local1199.org"}
	var keys []string
	for _, a := range addrs {
		keys = append(keys, h.email(a, "Contract vote Thursday", "Vote at the union hall, 5pm."))
	}
	h.waitMetric(`delivery_sending_paused{channel="email"} 1`)
	h.waitMetric(`delivery_provider_auth_failures_total{provider="sendgrid"}`)
	time.Sleep(time.Second)
	h.unsent(keys)
	if n := len(h.sim.Emails()); n != 0 {
		t.Fatalf("%d emails went with a refused key", n)
	}
	// Texting is not paused by email's trouble.
	h.waitMetric(`delivery_sending_paused{channel="sms"} 0`)
	h.notReadyToSend()

	h.sim.SetEmailFaults(nil)
	for _, k := range keys {
		h.waitStatus(k, "delivered")
	}
	got := map[string]int{}
	for _, e := range h.sim.Emails() {
		got[e.To]++
	}
	for _, a := range addrs {
		if got[a] != 1 {
			t.Fatalf("%s got %d emails, want 1 (all: %v)", a, got[a], got)
		}
	}
	h.waitMetric(`delivery_sending_paused{channel="email"} 0`)
	if code := h.readyz("/readyz"); code != 200 {
		t.Errorf("/readyz = %d after the key was fixed", code)
	}
}
